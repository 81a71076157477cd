package ot

import (
	"fmt"
	"math"
)

// ExactWeights returns an optimal plan between the measures that put
// weight a_i/Σa on source point i and b_j/Σb on target point j (positive
// floats, Σa = Σb to 1e-9 relative):
//
//	min Σ_ij P_ij c(x_i, y_j)  over P ≥ 0 with row sums a_i/Σa, column sums b_j/Σb.
//
// The exact solvers work in integers (see ExactMasses), so each normalised
// weight must be a fraction p/q to within 1e-14 of itself (denominators up to about
// 7·10^6 are found unambiguously, 1/(2q²) being above that), and the common
// denominator S of all of them must leave room for the network simplex's
// scaling, (4n + 1)·S < 2^62: weights that are counts over a total, or
// sums of a few such, are; weights drawn at random are not, and are
// refused with an error naming the weight (use Sinkhorn there). The plan
// is then ExactMasses' on the integers p·S/q: exact for those fractions,
// its marginals within 1e-14 relative of the given weights. CertifyMasses
// checks it on the same integers, which MassesOfWeights returns.
func ExactWeights(x, y []float64, d int, cost Cost, a, b []float64) (*Plan, error) {
	n, m, err := checkClouds(x, y, d, cost)
	if err != nil {
		return nil, err
	}
	s, t, err := MassesOfWeights(n, m, a, b)
	if err != nil {
		return nil, err
	}
	return ExactMasses(x, y, d, cost, s, t)
}

// weightTolerance is how far, relative to itself, a normalised weight may
// lie from the fraction ExactWeights takes for it.
const weightTolerance = 1e-14

// MassesOfWeights returns the integer masses s_i = p_i·S/q_i and
// t_j = p_j·S/q_j for weights a (n of them) and b (m), where p/q is the
// fraction with the least denominator within weightTolerance of each
// normalised weight and S the least common denominator, or an error naming
// the weight that has none small enough.
func MassesOfWeights(n, m int, a, b []float64) (s, t []int64, err error) {
	if len(a) != n || len(b) != m {
		return nil, nil, fmt.Errorf("ot: %d source and %d target weights for %d and %d points", len(a), len(b), n, m)
	}
	var totals [2]float64
	for side, w := range [][]float64{a, b} {
		for i, v := range w {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("ot: %s weight %d is %v, expected a positive finite number", [2]string{"source", "target"}[side], i, v)
			}
			totals[side] += v
		}
	}
	if math.Abs(totals[0]-totals[1]) > 1e-9*max(totals[0], totals[1]) {
		return nil, nil, fmt.Errorf("ot: source weights sum to %v, target weights to %v, expected equal totals", totals[0], totals[1])
	}
	limit := int64(maxMassScale / int64(4*n+1))
	var num, den [2][]int64
	lcd := int64(1)
	for side, w := range [][]float64{a, b} {
		name := [2]string{"source", "target"}[side]
		num[side], den[side] = make([]int64, len(w)), make([]int64, len(w))
		for i, v := range w {
			p, q, ok := fraction(v/totals[side], limit)
			if ok {
				if g := gcd64(lcd, q); lcd/g > limit/q {
					ok = false
				} else {
					lcd = lcd / g * q
				}
			}
			if !ok {
				return nil, nil, fmt.Errorf("ot: %s weight %d (%v of %v) and the others are no fractions with a common denominator up to %d: exact plans take weights such as counts over a total", name, i, v, totals[side], limit)
			}
			num[side][i], den[side][i] = p, q
		}
	}
	var masses [2][]int64
	for side := range masses {
		masses[side] = make([]int64, len(num[side]))
		var total int64
		for i, p := range num[side] {
			masses[side][i] = p * (lcd / den[side][i])
			total += masses[side][i]
		}
		if total != lcd {
			return nil, nil, fmt.Errorf("ot: %s weights as fractions sum to %d/%d, expected 1: exact plans take weights such as counts over a total", [2]string{"source", "target"}[side], total, lcd)
		}
	}
	return masses[0], masses[1], nil
}

// fraction returns the continued-fraction convergent p/q of w ∈ (0, 1] with
// the least q such that |w − p/q| ≤ weightTolerance·w, if q ≤ limit.
func fraction(w float64, limit int64) (p, q int64, ok bool) {
	hPrev, h := int64(0), int64(1) // numerators of the last two convergents
	kPrev, k := int64(1), int64(0) // and their denominators
	for x := w; ; {
		term := math.Floor(x)
		if term*float64(k)+float64(kPrev) > float64(limit) {
			return 0, 0, false
		}
		a := int64(term)
		hPrev, h = h, a*h+hPrev
		kPrev, k = k, a*k+kPrev
		if math.Abs(w-float64(h)/float64(k)) <= weightTolerance*w {
			return h, k, true
		}
		if x -= term; x == 0 {
			return 0, 0, false
		}
		x = 1 / x
	}
}

func gcd64(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
