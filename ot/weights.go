package ot

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
)

// ExactWeights returns an optimal plan between the measures that put
// weight a_i/Σa on source point i and b_j/Σb on target point j (positive
// finite floats, Σa = Σb to 1e-9 relative):
//
//	min Σ_ij P_ij c(x_i, y_j)  over P ≥ 0 with row sums a_i/Σa, column sums b_j/Σb.
//
// The exact solvers work in integers (see ExactMasses), so ExactWeights
// solves for the integer masses s_i, t_j (totals S) that MassesOfWeights
// puts on the points, by one of two routes, which Masses.Rounded tells.
//
// Fractions: where each normalised weight is a fraction p/q to within
// 1e-14 of itself (denominators up to about 7·10^6 are found
// unambiguously, 1/(2q²) being above that) and the common denominator S
// leaves room for the network simplex's scaling, (4n + 1)·S < 2^62, as for
// counts over a total or sums of a few such, the masses are the integers
// p·S/q: the plan is exact for those fractions, its marginals within 1e-14
// relative of the given weights. (Two or three weights drawn at random may
// pass for such fractions, each lying within 1e-14 of one with a
// denominator near 10^7; more do not, their common denominator growing
// past 2^62/(4n + 1).)
//
// Grid: any other weights (growth rates, kernel densities, weights drawn
// at random) are rounded onto the finest grid the simplex allows, S =
// ⌊2^62/(4n + 1)⌋ (about 2^60/n): s_i = ⌊a_i·S/Σa⌋ in exact arithmetic on
// the float weights, plus one unit for the largest remainders until Σs_i
// = S, the same for t_j. The plan is exact for the masses s_i/S and t_j/S,
// each of which lies less than 1/S (absolute, as a share of the total)
// from its weight. With C = max_ij c(x_i, y_j) and
//
//	ε = Σ_i |s_i/S − a_i/Σa| + Σ_j |t_j/S − b_j/Σb|  <  (n + m)/S,
//
// the plan's cost is within C·ε/2 < C·(n + m)/(2S) of the optimum for the
// given weights: an optimal plan of either pair of marginals, trimmed to
// fit under the other pair (removing at most ε/2 of mass) and completed by
// any plan of what is left, is a plan of the other pair that costs at most
// C·ε/2 more, costs being ≥ 0. For n = m = 10^3 that is below 10^-12·C,
// for n = m = 10^4 below 10^-10·C. Masses.L1 is ε, on either route.
//
// A weight below 1/S of its side's total (1/S = (4n + 1)/2^62, under
// n·10^-18) would round to zero mass and drop its point; it gets one unit
// instead, and the units this adds beyond the rounding are taken, one
// each, from the masses of two units or more with the least remainders
// (round after round if they are fewer than the units), so that the sum
// stays S. A mass taken from lies up to 2/S from its weight (more only
// after several rounds); Masses.MaxError tells the largest distance of
// all, and the bound C·ε/2 holds as it stands. CertifyMasses checks the
// plan on the masses MassesOfWeights returns.
func ExactWeights(x, y []float64, d int, cost Cost, a, b []float64) (*Plan, error) {
	n, m, err := checkClouds(x, y, d, cost)
	if err != nil {
		return nil, err
	}
	w, err := MassesOfWeights(n, m, a, b)
	if err != nil {
		return nil, err
	}
	return ExactMasses(x, y, d, cost, w.S, w.T)
}

// Masses are the integer masses ExactWeights solves for in place of float
// weights, and how far they lie from them.
type Masses struct {
	S, T  []int64 // source and target masses, each side summing to Total
	Total int64
	// Rounded is false on the route of fractions (the weights are s_i/Total
	// to 1e-14 relative) and true on the route of the grid (they were
	// rounded onto multiples of 1/Total, see ExactWeights).
	Rounded bool
	// MaxError is the largest |s_i/Total − a_i/Σa| and |t_j/Total − b_j/Σb|,
	// and L1 their sum over both sides, the ε of ExactWeights' bound, in
	// exact arithmetic on the float weights, rounded to float64 at the end.
	MaxError, L1 float64
}

// weightTolerance is how far, relative to itself, a normalised weight may
// lie from the fraction ExactWeights takes for it.
const weightTolerance = 1e-14

// MassesOfWeights returns the integer masses ExactWeights solves for with
// the weights a (n of them) and b (m): on the route of fractions s_i =
// p_i·S/q_i, where p/q is the fraction with the least denominator within
// weightTolerance of each normalised weight and S the least common
// denominator; on the route of the grid the rounded weights (see
// ExactWeights). Its error names the first weight that is not a positive
// finite number, or totals that differ.
func MassesOfWeights(n, m int, a, b []float64) (*Masses, error) {
	if len(a) != n || len(b) != m {
		return nil, fmt.Errorf("ot: %d source and %d target weights for %d and %d points", len(a), len(b), n, m)
	}
	var totals [2]float64
	for side, w := range [][]float64{a, b} {
		name := [2]string{"source", "target"}[side]
		for i, v := range w {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("ot: %s weight %d is %v, expected a positive finite number", name, i, v)
			}
			totals[side] += v
		}
		if math.IsInf(totals[side], 0) {
			return nil, fmt.Errorf("ot: %s weights sum past the largest float64, expected a finite total", name)
		}
	}
	if math.Abs(totals[0]-totals[1]) > 1e-9*max(totals[0], totals[1]) {
		return nil, fmt.Errorf("ot: source weights sum to %v, target weights to %v, expected equal totals", totals[0], totals[1])
	}
	limit := maxMassScale / int64(4*n+1)
	w := &Masses{}
	w.S, w.T, w.Total = fractionMasses(a, b, totals, limit)
	ew := [2]exactWeights{exactly(a), exactly(b)}
	if w.S == nil {
		w.S, w.T, w.Total, w.Rounded = ew[0].grid(limit), ew[1].grid(limit), limit, true
	}
	for side, s := range [2][]int64{w.S, w.T} {
		maxErr, l1 := ew[side].errors(s, w.Total)
		w.MaxError, w.L1 = max(w.MaxError, maxErr), w.L1+l1
	}
	return w, nil
}

// fractionMasses returns the masses of the route of fractions and their
// total, or nil where some normalised weight has no fraction with a
// denominator up to limit within weightTolerance, their least common
// denominator exceeds limit, or the fractions do not sum to 1.
func fractionMasses(a, b []float64, totals [2]float64, limit int64) (s, t []int64, lcd int64) {
	var num, den [2][]int64
	lcd = 1
	for side, w := range [][]float64{a, b} {
		num[side], den[side] = make([]int64, len(w)), make([]int64, len(w))
		for i, v := range w {
			p, q, ok := fraction(v/totals[side], limit)
			if !ok {
				return nil, nil, 0
			}
			g := gcd64(lcd, q)
			if lcd/g > limit/q {
				return nil, nil, 0
			}
			lcd = lcd / g * q
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
			return nil, nil, 0
		}
	}
	return masses[0], masses[1], lcd
}

// exactWeights holds float weights w_i as the integers A_i = w_i·2^k, k
// the least exponent among their float64 forms, and their exact sum T, so
// that w_i/Σw = A_i/T without rounding.
type exactWeights struct {
	a     []*big.Int
	total *big.Int
}

func exactly(w []float64) exactWeights {
	mant, exp := make([]int64, len(w)), make([]int, len(w))
	least := math.MaxInt
	for i, v := range w {
		f, e := math.Frexp(v) // v = f·2^e, f ∈ [1/2, 1): f·2^53 is an integer
		mant[i], exp[i] = int64(f*(1<<53)), e-53
		least = min(least, exp[i])
	}
	ew := exactWeights{a: make([]*big.Int, len(w)), total: new(big.Int)}
	for i := range w {
		ew.a[i] = new(big.Int).Lsh(big.NewInt(mant[i]), uint(exp[i]-least))
		ew.total.Add(ew.total, ew.a[i])
	}
	return ew
}

// grid returns the masses of the route of the grid for the total S ≥ n
// (see ExactWeights): s_i = ⌊A_i·S/T⌋, or 1 where that is 0; then, while
// Σs_i < S, one unit more for the largest remainders of the division
// among those not lifted to 1, and, while Σs_i > S, one unit less for the
// masses of two units or more, least remainder first. Ties go to the
// lower index. The first case stops before the remainders run out: what
// is missing, Σ_(not lifted) A_i·S/T − s_i − Σ_(lifted) (1 − A_i·S/T), is
// below their number. The second ends, as some mass is 2 or more while
// Σs_i > S ≥ n.
//
// The remainders are ordered by their first 64 bits, ⌊2^64·A_i·S/T⌋ mod
// 2^64, and by what is left of them, exactly, where those are equal.
func (ew exactWeights) grid(total int64) []int64 {
	n := len(ew.a)
	s, lifted := make([]int64, n), make([]bool, n)
	key, rest := make([]uint64, n), make([]*big.Int, n)
	scaled, q := new(big.Int).Lsh(big.NewInt(total), 64), new(big.Int)
	low := new(big.Int).SetUint64(math.MaxUint64)
	left := total
	for i, a := range ew.a {
		rest[i] = new(big.Int)
		q.QuoRem(q.Mul(a, scaled), ew.total, rest[i])
		key[i] = new(big.Int).And(q, low).Uint64()
		f := q.Rsh(q, 64).Int64()
		s[i], lifted[i] = max(1, f), f == 0
		left -= s[i]
	}
	var order []int
	for i := range s {
		if left > 0 && !lifted[i] || left < 0 && s[i] >= 2 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int {
		c := cmp.Compare(key[i], key[j])
		if c == 0 {
			c = rest[i].Cmp(rest[j])
		}
		if left > 0 {
			c = -c
		}
		return cmp.Or(c, i-j)
	})
	for _, i := range order[:min(max(left, 0), int64(len(order)))] {
		s[i]++
	}
	for left < 0 {
		for _, i := range order {
			if left < 0 && s[i] >= 2 {
				s[i]--
				left++
			}
		}
	}
	return s
}

// errors returns the largest |s_i/S − A_i/T| and their sum, each
// computed exactly and rounded to float64.
func (ew exactWeights) errors(s []int64, total int64) (largest, sum float64) {
	den := new(big.Float).SetInt(new(big.Int).Mul(ew.total, big.NewInt(total)))
	diff, scaled, mass := new(big.Int), new(big.Int), new(big.Int)
	num, q := new(big.Float), new(big.Float).SetPrec(53)
	for i, a := range ew.a {
		diff.Mul(mass.SetInt64(s[i]), ew.total)
		diff.Sub(diff, scaled.Mul(a, mass.SetInt64(total)))
		e, _ := q.Quo(num.SetInt(diff.Abs(diff)), den).Float64()
		largest, sum = max(largest, e), sum+e
	}
	return largest, sum
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
