package ot

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
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
			w, err := MassesOfWeights(n, m, a, b)
			if err != nil {
				t.Fatal(err)
			}
			if w.Rounded || w.MaxError > 1e-14 {
				t.Fatalf("weights %v → %v: rounded %v, error %v; want the route of fractions", a, b, w.Rounded, w.MaxError)
			}
			if err := CertifyMasses(x, y, d, cost, w.S, w.T, p); err != nil {
				t.Fatalf("weights %v → %v: %v", a, b, err)
			}
		}
	}
}

// The fractions are the ones with the least denominators: thirds and
// sevenths give masses over 21, a large prime denominator is kept whole.
func TestMassesOfWeights(t *testing.T) {
	w, err := MassesOfWeights(3, 2, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{3.0 / 7, 4.0 / 7})
	if err != nil || !slices.Equal(w.S, []int64{7, 7, 7}) || !slices.Equal(w.T, []int64{9, 12}) || w.Total != 21 || w.Rounded {
		t.Fatalf("thirds and sevenths: %+v, %v; want [7 7 7], [9 12] of 21, not rounded", w, err)
	}
	// Three equal weights are thirds exactly; the float64s nearest 3/7
	// and 4/7 are 3·k·2^-54 and 4·k·2^-54 with 7·k = 2^54 − 1, so
	// normalised they are 3/7 and 4/7 exactly too.
	if w.MaxError != 0 || w.L1 != 0 {
		t.Fatalf("thirds and sevenths: error %v, L1 %v; want 0", w.MaxError, w.L1)
	}
	const q = 999983
	w, err = MassesOfWeights(2, 1, []float64{1.0 / q, (q - 1.0) / q}, []float64{1})
	if err != nil || !slices.Equal(w.S, []int64{1, q - 1}) || !slices.Equal(w.T, []int64{q}) || w.Rounded {
		t.Fatalf("denominator %d: %+v, %v", q, w, err)
	}
}

func TestExactWeightsRejectsBadWeights(t *testing.T) {
	x, y := []float64{0, 1, 2}, []float64{0, 1}
	for _, c := range []struct {
		a, b []float64
		want string
	}{
		{[]float64{1, 1}, []float64{1, 2}, "2 source and 2 target weights for 3 and 2 points"},
		{[]float64{1, 0, 1}, []float64{1, 1}, "source weight 1 is 0, expected a positive finite number"},
		{[]float64{1, 1, 1}, []float64{math.NaN(), 1}, "target weight 0 is NaN, expected a positive finite number"},
		{[]float64{1, -2, 1}, []float64{1, 1}, "source weight 1 is -2, expected a positive finite number"},
		{[]float64{1, 1, 1}, []float64{1, math.Inf(1)}, "target weight 1 is +Inf, expected a positive finite number"},
		{[]float64{1, 1, 1}, []float64{1, 1}, "source weights sum to 3, target weights to 2, expected equal totals"},
		{[]float64{1, 1, 1}, []float64{1.5, 1.5 + 1e-8}, "source weights sum to 3, target weights to 3.00000001, expected equal totals"},
		{[]float64{1e308, 1e308, 1e308}, []float64{1, 1}, "source weights sum past the largest float64, expected a finite total"},
	} {
		_, err := ExactWeights(x, y, 1, SqEuclidean, c.a, c.b)
		if err == nil || err.Error() != "ot: "+c.want {
			t.Errorf("weights %v, %v: error %v, want %q", c.a, c.b, err, c.want)
		}
	}
}

// randomWeights returns n weights for a grid test: uniform in (0, 1],
// and, where tiny, some of them a factor 10^-3 to 10^-300 smaller, below
// any grid's unit.
func randomWeights(rng *rand.Rand, n int, tiny bool) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 - rng.Float64()
		if tiny && rng.IntN(3) == 0 {
			w[i] *= math.Pow(10, -3-float64(rng.IntN(298)))
		}
	}
	return w
}

// gridDistances returns the largest |s_i/S − w_i/Σw| and their sum, in
// big.Rat from the float weights, independently of exactWeights.
func gridDistances(w []float64, s []int64, total int64) (largest, sum *big.Rat) {
	sumW := new(big.Rat)
	for _, v := range w {
		sumW.Add(sumW, new(big.Rat).SetFloat64(v))
	}
	largest, sum = new(big.Rat), new(big.Rat)
	for i, v := range w {
		d := new(big.Rat).Quo(new(big.Rat).SetFloat64(v), sumW)
		d.Sub(d, big.NewRat(s[i], total)).Abs(d)
		if d.Cmp(largest) > 0 {
			largest.Set(d)
		}
		sum.Add(sum, d)
	}
	return largest, sum
}

// compositions calls f with every way of writing total as n positive
// integers.
func compositions(n int, total int64, f func([]int64)) {
	s := make([]int64, n)
	var rec func(i int, left int64)
	rec = func(i int, left int64) {
		if i == n-1 {
			s[i] = left
			f(s)
			return
		}
		for v := int64(1); v <= left-int64(n-1-i); v++ {
			s[i] = v
			rec(i+1, left-v)
		}
	}
	rec(0, total)
}

// The grid's masses against all compositions of S into positive parts
// (n ≤ 6, S ≤ 14): they sum to S, are at least 1, reach the least
// Σ|s_i/S − w_i/Σw| of all, and the least largest distance among those
// that do; without tiny weights every distance is below 1/S. The errors
// exactWeights reports are the distances, to float64 rounding.
func TestGridMassesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 35))
	fixed := []struct {
		w     []float64
		total int64
	}{
		// Four weights lifted to one unit take three from the masses of
		// 2 and 10 (2.36 and 10.64 before): 1 from the first, 2 from the
		// second in two rounds.
		{[]float64{2, 9, 1e-9, 1e-300, 1e-9, 1e-9}, 13},
		// 3 − 6e-200 units floor to 2, and give one to the lifted weights.
		{[]float64{1, 1e-200, 1e-200}, 3},
	}
	for trial := range 400 {
		n := 1 + rng.IntN(5)
		total := int64(n + rng.IntN(15-n))
		w := randomWeights(rng, n, trial%2 == 1)
		if trial%7 == 0 { // equal remainders: ties go to the lower index
			w = slices.Repeat([]float64{0.3}, n)
		}
		if trial < len(fixed) {
			w, total, n = fixed[trial].w, fixed[trial].total, len(fixed[trial].w)
		}
		ew := exactly(w)
		s := ew.grid(total)
		var sum int64
		for _, v := range s {
			sum += v
		}
		if sum != total || slices.Min(s) < 1 {
			t.Fatalf("weights %v on the grid 1/%d: masses %v; want positive masses summing to %d", w, total, s, total)
		}
		got, gotSum := gridDistances(w, s, total)
		var best, bestMax *big.Rat
		compositions(n, total, func(c []int64) {
			m, l1 := gridDistances(w, c, total)
			if best == nil || l1.Cmp(best) < 0 {
				best, bestMax = l1, m
			} else if l1.Cmp(best) == 0 && m.Cmp(bestMax) < 0 {
				bestMax = m
			}
		})
		if gotSum.Cmp(best) != 0 || got.Cmp(bestMax) != 0 {
			t.Fatalf("weights %v on the grid 1/%d: masses %v at distances %v (largest %v); all compositions' least %v (largest %v)",
				w, total, s, gotSum.FloatString(6), got.FloatString(6), best.FloatString(6), bestMax.FloatString(6))
		}
		sumW := new(big.Rat)
		for _, v := range w {
			sumW.Add(sumW, new(big.Rat).SetFloat64(v))
		}
		tiny := slices.ContainsFunc(w, func(v float64) bool { // below 1/S of the total
			return new(big.Rat).Mul(new(big.Rat).SetFloat64(v), big.NewRat(total, 1)).Cmp(sumW) < 0
		})
		if !tiny && got.Cmp(big.NewRat(1, total)) >= 0 {
			t.Fatalf("weights %v on the grid 1/%d: masses %v, a distance %v of 1/S or more", w, total, s, got.FloatString(6))
		}
		maxErr, l1 := ew.errors(s, total)
		if g, _ := got.Float64(); maxErr != g {
			t.Fatalf("weights %v, masses %v: largest error %v, want %v", w, s, maxErr, g)
		}
		if g, _ := gotSum.Float64(); math.Abs(l1-g) > 1e-15*g {
			t.Fatalf("weights %v, masses %v: L1 %v, want %v", w, s, l1, g)
		}
	}
}

// transportLP returns min Σ P_ij c_ij over P ≥ 0 with row sums a and
// column sums b (equal totals) by enumerating the vertices of the
// transportation polytope: every spanning tree of the n + m nodes whose
// flows, found by peeling leaves, are non-negative (to 1e-15).
func transportLP(c [][]float64, a, b []float64) float64 {
	n, m := len(a), len(b)
	best := math.Inf(1)
	tree := make([]int, 0, n+m-1)
	var choose func(next int)
	choose = func(next int) {
		if len(tree) == n+m-1 {
			if cost, ok := treeFlowCost(c, a, b, tree); ok {
				best = min(best, cost)
			}
			return
		}
		for e := next; e <= n*m-(n+m-1-len(tree)); e++ {
			tree = append(tree, e)
			choose(e + 1)
			tree = tree[:len(tree)-1]
		}
	}
	choose(0)
	return best
}

// treeFlowCost returns the cost of the flow on the pairs e = i·m + j of
// tree that meets the marginals, and whether they form a spanning tree
// and the flow is non-negative.
func treeFlowCost(c [][]float64, a, b []float64, tree []int) (float64, bool) {
	n, m := len(a), len(b)
	left := append(slices.Clone(a), b...) // node i < n is source i, n + j target j
	degree := make([]int, n+m)
	for _, e := range tree {
		degree[e/m]++
		degree[n+e%m]++
	}
	done := make([]bool, len(tree))
	var cost float64
	for range tree {
		found := false
		for k, e := range tree {
			i, j := e/m, n+e%m
			if done[k] || degree[i] != 1 && degree[j] != 1 {
				continue
			}
			leaf, other := i, j
			if degree[i] != 1 {
				leaf, other = j, i
			}
			f := left[leaf]
			if f < -1e-15 {
				return 0, false
			}
			left[leaf], left[other] = 0, left[other]-f
			degree[i]--
			degree[j]--
			done[k], found = true, true
			cost += f * c[e/m][e%m]
			break
		}
		if !found { // a cycle: not a tree
			return 0, false
		}
	}
	return cost, true
}

// Random float weights, which only the grid takes, against the linear
// program solved by enumerating its vertices: ExactWeights' plan costs
// the optimum to within C·ε/2 (and float64 rounding), its marginals lie
// within 1/S of the weights, and it passes CertifyMasses on the masses
// MassesOfWeights reports. On coarse grids (S of 5 to 40, through
// exactWeights.grid and ExactMasses) the distance to the optimum is
// large enough to see, and must stay within C·ε/2 too.
func TestExactWeightsRoundedBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(36, 37))
	var worst float64 // the largest |cost − optimum|/(C·ε/2) on coarse grids
	var rounded, problems int
	for trial := range 150 {
		n, m, d := 1+rng.IntN(4), 1+rng.IntN(4), 1+rng.IntN(3)
		a, b := randomWeights(rng, n, false), randomWeights(rng, m, false)
		scale := (0.1 + 10*rng.Float64()) / slices.Max(a) // any total
		var sumA, sumB float64
		for i := range a {
			a[i] *= scale
			sumA += a[i]
		}
		for j := range b {
			sumB += b[j]
		}
		for j := range b {
			b[j] *= sumA / sumB
		}
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		if trial%3 == 1 {
			x, y = gridCloud(rng, n, d, 2), gridCloud(rng, m, d, 2)
		}
		for _, cost := range []Cost{SqEuclidean, Euclidean} {
			problems++
			c := make([][]float64, n)
			var largest float64
			for i := range c {
				c[i] = make([]float64, m)
				for j := range c[i] {
					c[i][j] = costOf(x, y, d, cost, i, j)
					largest = max(largest, c[i][j])
				}
			}
			normA, normB := make([]float64, n), make([]float64, m)
			var totA, totB float64
			for i := range a {
				totA += a[i]
			}
			for j := range b {
				totB += b[j]
			}
			for i := range a {
				normA[i] = a[i] / totA
			}
			for j := range b {
				normB[j] = b[j] / totB
			}
			want := transportLP(c, normA, normB)

			p, err := ExactWeights(x, y, d, cost, a, b)
			if err != nil {
				t.Fatalf("weights %v → %v: %v", a, b, err)
			}
			w, err := MassesOfWeights(n, m, a, b)
			if err != nil {
				t.Fatal(err)
			}
			// With three weights or fewer, random ones may pass for
			// fractions (each lies within 1e-14 of one with a denominator
			// near 10^7, and two or three such have a common one that
			// fits): their masses lie within 1e-14 relative of them.
			if w.Rounded {
				rounded++
			}
			if w.Rounded && w.MaxError >= 1/float64(w.Total) || !w.Rounded && w.MaxError > 1e-14 || w.L1 > w.MaxError*float64(n+m) {
				t.Fatalf("weights %v → %v: rounded %v, error %v, L1 %v on the grid 1/%d", a, b, w.Rounded, w.MaxError, w.L1, w.Total)
			}
			if bound := largest*w.L1/2 + 1e-13*largest; math.Abs(p.Cost-want) > bound {
				t.Fatalf("weights %v → %v, %v: cost %v, optimum %v, beyond %v", a, b, cost, p.Cost, want, bound)
			}
			checkMassMarginals(t, p, x, y, d, cost, w.S, w.T)
			rows, cols := make([]float64, n), make([]float64, m)
			for _, q := range p.Pairs {
				rows[q.I] += q.W
				cols[q.J] += q.W
			}
			for k, r := range append(rows, cols...) {
				want := append(normA, normB...)[k]
				if math.Abs(r-want) > 1/float64(w.Total)+1e-15 {
					t.Fatalf("weights %v → %v: marginal %d is %v, weight %v, beyond 1/%d", a, b, k, r, want, w.Total)
				}
			}
			if err := CertifyMasses(x, y, d, cost, w.S, w.T, p); err != nil {
				t.Fatalf("weights %v → %v: %v", a, b, err)
			}

			total := int64(max(n, m) + rng.IntN(40))
			ea, eb := exactly(a), exactly(b)
			s, u := ea.grid(total), eb.grid(total)
			coarse, err := ExactMasses(x, y, d, cost, s, u)
			if err != nil {
				t.Fatal(err)
			}
			_, l1a := ea.errors(s, total)
			_, l1b := eb.errors(u, total)
			bound := largest * (l1a + l1b) / 2
			if diff := math.Abs(coarse.Cost - want); diff > bound+1e-13*largest {
				t.Fatalf("weights %v → %v on the grid 1/%d, %v: cost %v, optimum %v, beyond C·ε/2 = %v", a, b, total, cost, coarse.Cost, want, bound)
			} else if bound > 0 {
				worst = max(worst, diff/bound)
			}
		}
	}
	if rounded < problems*3/4 {
		t.Fatalf("%d of %d problems on the grid, want most", rounded, problems)
	}
	t.Logf("%d of %d problems on the grid; coarse grids: |cost − optimum| up to %.6f of C·ε/2", rounded, problems, worst)
}

// Weights the route of fractions refuses take the grid: random ones; one
// within 3e-13 of 2/43 beside 35/43 and 40/43 (its fraction within 1e-14
// has a denominator near 10^14, and the fractions then miss 1); and
// weights of 10^-300 and of a subnormal size beside 1, which keep one
// unit each, so every point is in the plan.
func TestExactWeightsGridRoute(t *testing.T) {
	rng := rand.New(rand.NewPCG(38, 39))
	x, y := uniformCloud(rng, 3, 2), uniformCloud(rng, 4, 2)
	for _, a := range [][]float64{
		{rng.Float64(), rng.Float64(), rng.Float64()},
		{0.04651162790696279, 0.813953488372093, 0.9302325581395349},
		{1, 1e-300, 5e-324},
	} {
		sum := a[0] + a[1] + a[2]
		b := []float64{sum / 4, sum / 4, sum / 4, sum / 4}
		if a[2] == 5e-324 {
			b = []float64{sum, 1e-300, 1e-300, 1e-310}
		}
		p, err := ExactWeights(x, y, 2, SqEuclidean, a, b)
		if err != nil {
			t.Fatalf("weights %v, %v: %v", a, b, err)
		}
		w, err := MassesOfWeights(3, 4, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if limit := int64(maxMassScale / 13); !w.Rounded || w.Total != limit {
			t.Fatalf("weights %v, %v: rounded %v on the grid 1/%d, want the grid 1/%d", a, b, w.Rounded, w.Total, limit)
		}
		// Each distance is below 1/S but for a unit taken from the
		// largest mass for the lifted ones (at most three on a side).
		if w.MaxError >= 4/float64(w.Total) {
			t.Fatalf("weights %v, %v: error %v on the grid 1/%d", a, b, w.MaxError, w.Total)
		}
		rows, cols := make([]bool, 3), make([]bool, 4)
		for _, q := range p.Pairs {
			rows[q.I], cols[q.J] = true, true
		}
		if slices.Contains(rows, false) || slices.Contains(cols, false) {
			t.Fatalf("weights %v, %v: a point without mass in %v", a, b, p.Pairs)
		}
		checkMassMarginals(t, p, x, y, 2, SqEuclidean, w.S, w.T)
		if err := CertifyMasses(x, y, 2, SqEuclidean, w.S, w.T, p); err != nil {
			t.Fatalf("weights %v, %v: %v", a, b, err)
		}
	}
}
