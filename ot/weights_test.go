package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Weights that are counts over a total, in any scale, give the plan of
// those counts: the repeated assignment's cost, the marginals, and the
// certificate on the integers MassesOfWeights recovers.
func TestExactWeightsBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 31))
	for trial := range 80 {
		n, m, d := 1+rng.IntN(5), 1+rng.IntN(6), 1+rng.IntN(3)
		s, u := randomMasses(rng, n, m, 5)
		var total int64
		for _, v := range s {
			total += v
		}
		scale := 0.1 + 10*rng.Float64() // the weights need not sum to 1
		a, b := make([]float64, n), make([]float64, m)
		for i, v := range s {
			a[i] = float64(v) / float64(total) * scale
		}
		for j, v := range u {
			b[j] = float64(v) / float64(total) * scale
		}
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		if trial%3 == 1 {
			x, y = gridCloud(rng, n, d, 2), gridCloud(rng, m, d, 2)
		}
		for _, cost := range []Cost{SqEuclidean, Euclidean} {
			p, err := ExactWeights(x, y, d, cost, a, b)
			if err != nil {
				t.Fatalf("weights %v → %v: %v", a, b, err)
			}
			c := massCosts(x, y, d, cost, s, u)
			if want := hungarian(c) / float64(len(c)); math.Abs(p.Cost-want) > 1e-12*(1+want) {
				t.Fatalf("weights %v → %v, %v: cost %v, repeated assignment %v", a, b, cost, p.Cost, want)
			}
			checkMassMarginals(t, p, x, y, d, cost, s, u)
			ws, wt, err := MassesOfWeights(n, m, a, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := CertifyMasses(x, y, d, cost, ws, wt, p); err != nil {
				t.Fatalf("weights %v → %v: %v", a, b, err)
			}
		}
	}
}

// The fractions are the ones with the least denominators: thirds and
// sevenths give masses over 21, a large prime denominator is kept whole.
func TestMassesOfWeights(t *testing.T) {
	s, u, err := MassesOfWeights(3, 2, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{3.0 / 7, 4.0 / 7})
	if err != nil || !slices.Equal(s, []int64{7, 7, 7}) || !slices.Equal(u, []int64{9, 12}) {
		t.Fatalf("thirds and sevenths: %v, %v, %v; want [7 7 7], [9 12]", s, u, err)
	}
	const q = 999983
	s, u, err = MassesOfWeights(2, 1, []float64{1.0 / q, (q - 1.0) / q}, []float64{1})
	if err != nil || !slices.Equal(s, []int64{1, q - 1}) || !slices.Equal(u, []int64{q}) {
		t.Fatalf("denominator %d: %v, %v, %v", q, s, u, err)
	}
}

func TestExactWeightsRejectsBadWeights(t *testing.T) {
	x, y := []float64{0, 1, 2}, []float64{0, 1}
	random := rand.New(rand.NewPCG(32, 33))
	for _, c := range []struct {
		a, b []float64
		want string
	}{
		{[]float64{1, 1}, []float64{1, 2}, "2 source and 2 target weights for 3 and 2 points"},
		{[]float64{1, 0, 1}, []float64{1, 1}, "source weight 1 is 0, expected a positive finite number"},
		{[]float64{1, 1, 1}, []float64{math.NaN(), 1}, "target weight 0 is NaN, expected a positive finite number"},
		{[]float64{1, 1, 1}, []float64{1, 1}, "source weights sum to 3, target weights to 2, expected equal totals"},
		{[]float64{random.Float64(), random.Float64(), random.Float64()}, nil, "are no fractions with a common denominator"},
		// 2/43 but for 3e-13 of itself, 35/43 and 40/43: the first one's
		// fraction within 1e-14 has a denominator near 10^14.
		{[]float64{0.04651162790696279, 0.813953488372093, 0.9302325581395349}, nil, "source weights as fractions sum to"},
	} {
		if c.b == nil { // target weights of the same total
			sum := c.a[0] + c.a[1] + c.a[2]
			c.b = []float64{sum / 2, sum / 2}
		}
		_, err := ExactWeights(x, y, 1, SqEuclidean, c.a, c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("weights %v, %v: error %v, want %q", c.a, c.b, err, c.want)
		}
	}
}
