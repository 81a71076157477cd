package ot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// bruteForceAssignment returns min over permutations π of Σ_i C[i][π(i)].
func bruteForceAssignment(c [][]float64) float64 {
	n := len(c)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	best := math.Inf(1)
	var rec func(k int, sum float64)
	rec = func(k int, sum float64) {
		if k == n {
			best = min(best, sum)
			return
		}
		for l := k; l < n; l++ {
			perm[k], perm[l] = perm[l], perm[k]
			rec(k+1, sum+c[k][perm[k]])
			perm[k], perm[l] = perm[l], perm[k]
		}
	}
	rec(0, 0)
	return best
}

// hungarian is an independent textbook solver for the square assignment
// problem (Kuhn–Munkres with potentials, O(n³)); it returns the least total
// cost.
func hungarian(c [][]float64) float64 {
	n := len(c)
	u, v := make([]float64, n+1), make([]float64, n+1)
	p, way := make([]int, n+1), make([]int, n+1) // p[j]: row of column j, 1-based
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		minv := make([]float64, n+1)
		used := make([]bool, n+1)
		for j := range minv {
			minv[j] = math.Inf(1)
		}
		for p[j0] != 0 {
			used[j0] = true
			i0, delta, j1 := p[j0], math.Inf(1), 0
			for j := 1; j <= n; j++ {
				if !used[j] {
					if cur := c[i0-1][j-1] - u[i0] - v[j]; cur < minv[j] {
						minv[j], way[j] = cur, j0
					}
					if minv[j] < delta {
						delta, j1 = minv[j], j
					}
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	var total float64
	for j := 1; j <= n; j++ {
		total += c[p[j]-1][j-1]
	}
	return total
}

// replicatedCosts scales the uniform transportation problem to an
// assignment of size F = lcm(n, m): source i appears F/n times and target j
// F/m times. Its optimum divided by F is the transport optimum.
func replicatedCosts(x, y []float64, d int, cost Cost) [][]float64 {
	n, m := len(x)/d, len(y)/d
	f := n / gcd(n, m) * m
	c := make([][]float64, f)
	for a := range c {
		c[a] = make([]float64, f)
		for b := range c[a] {
			c[a][b] = costOf(x, y, d, cost, a/(f/n), b/(f/m))
		}
	}
	return c
}

func TestExactBruteForceSquare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 1; n <= 7; n++ {
		for trial := 0; trial < 20; trial++ {
			x, y := uniformCloud(rng, n, 2), uniformCloud(rng, n, 2)
			if trial%2 == 1 { // ties and duplicates
				x, y = gridCloud(rng, n, 2, 3), gridCloud(rng, n, 2, 3)
			}
			for _, cost := range []Cost{SqEuclidean, Euclidean} {
				p, err := Exact(x, y, 2, cost)
				if err != nil {
					t.Fatal(err)
				}
				want := bruteForceAssignment(replicatedCosts(x, y, 2, cost)) / float64(n)
				if math.Abs(p.Cost-want) > 1e-12*(1+want) {
					t.Fatalf("n=%d %v: cost %v, brute force %v", n, cost, p.Cost, want)
				}
				if len(p.Pairs) != n {
					t.Fatalf("n=%d: %d pairs, want a permutation", n, len(p.Pairs))
				}
				checkMarginals(t, p, x, y, 2, cost)
			}
		}
	}
}

func TestExactRectangular(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	sizes := [][2]int{{1, 5}, {5, 1}, {2, 3}, {3, 2}, {2, 4}, {4, 2}, {3, 6}, {6, 4}, {5, 7}, {8, 12}, {9, 6}, {10, 15}}
	for _, s := range sizes {
		n, m := s[0], s[1]
		for trial := 0; trial < 10; trial++ {
			x, y := uniformCloud(rng, n, 3), uniformCloud(rng, m, 3)
			if trial%2 == 1 {
				x, y = gridCloud(rng, n, 3, 2), gridCloud(rng, m, 3, 2)
			}
			p, err := Exact(x, y, 3, SqEuclidean)
			if err != nil {
				t.Fatal(err)
			}
			c := replicatedCosts(x, y, 3, SqEuclidean)
			want := hungarian(c) / float64(len(c))
			if len(c) <= 8 {
				if bf := bruteForceAssignment(c) / float64(len(c)); math.Abs(bf-want) > 1e-12*(1+bf) {
					t.Fatalf("%dx%d: the reference solvers disagree: %v, %v", n, m, bf, want)
				}
			}
			if math.Abs(p.Cost-want) > 1e-12*(1+want) {
				t.Fatalf("%dx%d: cost %v, replicated assignment %v", n, m, p.Cost, want)
			}
			checkMarginals(t, p, x, y, 3, SqEuclidean)
			checkDuals(t, p, x, y, 3, SqEuclidean)
		}
	}
}

func TestExactDualCertificate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	sizes := [][2]int{{2, 2}, {50, 50}, {200, 200}, {500, 500}, {30, 70}, {333, 500}, {500, 120}, {499, 500}}
	for _, s := range sizes {
		for _, kind := range []string{"uniform", "grid", "duplicates"} {
			n, m := s[0], s[1]
			t.Run(fmt.Sprintf("%dx%d_%s", n, m, kind), func(t *testing.T) {
				var x, y []float64
				switch kind {
				case "uniform":
					x, y = uniformCloud(rng, n, 2), uniformCloud(rng, m, 2)
				case "grid": // many equal costs
					x, y = gridCloud(rng, n, 2, 10), gridCloud(rng, m, 2, 10)
				case "duplicates": // few distinct points, each repeated
					x, y = gridCloud(rng, n, 2, 3), gridCloud(rng, m, 2, 3)
				}
				for _, p := range checkExactBothCosts(t, x, y) {
					if n == m && len(p.Pairs) != n {
						t.Fatalf("%d pairs, want a permutation of %d", len(p.Pairs), n)
					}
				}
			})
		}
	}
}

func TestExactRejectsBadInput(t *testing.T) {
	ok := []float64{0, 0, 1, 1}
	for name, c := range map[string]struct {
		x, y []float64
		d    int
		cost Cost
	}{
		"zero dimension": {ok, ok, 0, SqEuclidean},
		"ragged":         {[]float64{0, 0, 1}, ok, 2, SqEuclidean},
		"empty":          {nil, ok, 2, SqEuclidean},
		"NaN":            {ok, []float64{0, math.NaN()}, 2, SqEuclidean},
		"Inf":            {[]float64{math.Inf(1), 0}, ok, 2, SqEuclidean},
		"unknown cost":   {ok, ok, 2, Cost(7)},
	} {
		if _, err := Exact(c.x, c.y, c.d, c.cost); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFilterPairs(t *testing.T) {
	p := &Plan{N: 2, M: 4, Pairs: []Pair{{0, 0, 0.3}, {0, 1, 0.2}, {1, 2, 0.49}, {1, 3, 0.01}}}
	got := FilterPairs(p) // threshold 1/40
	if len(got) != 3 || got[2] != (Pair{1, 2, 0.49}) {
		t.Fatalf("FilterPairs kept %v", got)
	}
}

// TestExactNeedsPricing uses layouts where the near-neighbour graph misses
// arcs of the optimum: half the targets sit far from all sources, so most
// sources that must serve them have no candidate arc to them, and pricing
// has to add those arcs.
func TestExactNeedsPricing(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for _, s := range [][2]int{{100, 100}, {90, 110}, {150, 149}} {
		n, m := s[0], s[1]
		x := uniformCloud(rng, n, 2)
		y := uniformCloud(rng, m, 2)
		for j := 0; j < m/2; j++ {
			y[2*j] += 20
		}
		checkExactBothCosts(t, x, y)
	}
}

func TestNearestKeepsTheSmallest(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, k := range []int{1, 3, 24} {
		h := newNearest(k)
		keys := make([]float64, 500)
		for j := range keys {
			keys[j] = float64(rng.IntN(100)) // ties
			h.offer(keys[j], int32(j))
		}
		h.cut()
		want := slices.Sorted(slices.Values(keys))[:k]
		got := slices.Sorted(slices.Values(h.key))
		if !slices.Equal(got, want) {
			t.Fatalf("k=%d: kept %v, want %v", k, got, want)
		}
		for l, j := range h.idx {
			if keys[j] != h.key[l] {
				t.Fatalf("k=%d: index %d does not hold key %v", k, j, h.key[l])
			}
		}
	}
}

// TestCostRowsMatchBetween checks that the row passes and Cost.Between give
// bit-identical costs, in odd and even dimensions.
func TestCostRowsMatchBetween(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	for _, d := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50} {
		for _, cost := range []Cost{SqEuclidean, Euclidean} {
			x, y := uniformCloud(rng, 7, d), uniformCloud(rng, 9, d)
			c := newCostMatrix(x, y, d, cost, 0)
			buf := make([]float64, 9)
			for i := range 7 {
				for j, cij := range c.row(i, buf) {
					if want := costOf(x, y, d, cost, i, j); cij != want || c.at(i, j) != want {
						t.Fatalf("d=%d %v (%d, %d): row %v, at %v, Between %v", d, cost, i, j, cij, c.at(i, j), want)
					}
				}
			}
		}
	}
}

// TestExactAllPointsEqual: every cost is 0, so every plan is optimal.
func TestExactAllPointsEqual(t *testing.T) {
	for _, s := range [][2]int{{6, 6}, {5, 7}, {1, 1}} {
		x, y := make([]float64, 3*s[0]), make([]float64, 3*s[1])
		p, err := Exact(x, y, 3, Euclidean)
		if err != nil {
			t.Fatal(err)
		}
		if p.Cost != 0 {
			t.Fatalf("%v: cost %v", s, p.Cost)
		}
		checkMarginals(t, p, x, y, 3, Euclidean)
		checkDuals(t, p, x, y, 3, Euclidean)
	}
}

// checkExactBothCosts solves x → y (d = 2) for both costs, certifies each
// plan by its marginals and duals, and returns the plans.
func checkExactBothCosts(t *testing.T, x, y []float64) []*Plan {
	t.Helper()
	var plans []*Plan
	for _, cost := range []Cost{SqEuclidean, Euclidean} {
		p, err := Exact(x, y, 2, cost)
		if err != nil {
			t.Fatal(err)
		}
		checkMarginals(t, p, x, y, 2, cost)
		checkDuals(t, p, x, y, 2, cost)
		plans = append(plans, p)
	}
	return plans
}

// TestCandidateArcsBruteForce checks the candidate arcs of the passes over
// rows of costs against sorting every row: each source's k nearest costs,
// whatever the number of goroutines splitting the rows (GOMAXPROCS 1, 2
// and 3 on clouds with many equal costs, k above and below the sizes).
func TestCandidateArcsBruteForce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(17, 17))
	for _, c := range []struct{ n, m, d, side, k int }{
		{200, 300, 3, 4, 16}, {301, 199, 2, 3, 7}, {40, 41, 12, 2, 16}, {5, 9, 2, 3, 16}, {150, 150, 5, 1 << 20, 24},
	} {
		x, y := gridCloud(rng, c.n, c.d, c.side), gridCloud(rng, c.m, c.d, c.side)
		costs := newCostMatrix(x, y, c.d, SqEuclidean, 1<<30)
		if costs.useTrees() {
			t.Fatalf("%v: k-d trees, want passes over rows", c)
		}
		for _, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			for i, as := range candidateArcs(costs, c.k) {
				row := costs.row(i, nil)
				want := slices.Sorted(slices.Values(row))[:min(c.k, c.m)]
				var got []float64
				for _, a := range as {
					if a.cost != row[a.col] {
						t.Fatalf("%v procs %d: source %d's arc to %d costs %v, want %v", c, procs, i, a.col, a.cost, row[a.col])
					}
					got = append(got, a.cost)
				}
				if slices.Sort(got); !slices.Equal(got, want) {
					t.Fatalf("%v procs %d: source %d's nearest costs %v, want %v", c, procs, i, got, want)
				}
			}
		}
	}
}

// TestExactPhases checks the phases an exact plan reports: set for both
// solvers, with and without trees; costs stored only where rows are passed
// over; steps, passes and arcs counted (the arcs hold the plan's pairs);
// and the parts, disjoint spans of the call, within its wall time.
func TestExactPhases(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	for _, c := range []struct {
		n, m, d int
		trees   bool
	}{{300, 301, 5, false}, {300, 300, 5, false}, {300, 301, 2, true}, {300, 300, 3, true}} {
		x, y := uniformCloud(rng, c.n, c.d), uniformCloud(rng, c.m, c.d)
		var p *Plan
		var wall time.Duration
		solve := func() {
			start := time.Now()
			var err error
			if p, err = Exact(x, y, c.d, SqEuclidean); err != nil {
				t.Fatal(err)
			}
			wall = time.Since(start)
		}
		if c.trees {
			withTrees(t, solve)
		} else {
			solve()
		}
		ph := p.Phases
		switch {
		case ph == nil:
			t.Fatalf("%v: no phases", c)
		case (ph.Costs > 0) == c.trees:
			t.Fatalf("%v: costs stored for %v, trees %v", c, ph.Costs, c.trees)
		case ph.Candidates <= 0 || ph.Solve <= 0 || ph.Pricing <= 0:
			t.Fatalf("%v: phases %+v, want each positive", c, ph)
		case ph.Total() > wall:
			t.Fatalf("%v: phases add up to %v, beyond the call's %v", c, ph.Total(), wall)
		case ph.Steps < 1 || ph.Passes < 1 || ph.Arcs < len(p.Pairs):
			t.Fatalf("%v: %d steps, %d passes, %d arcs for %d pairs", c, ph.Steps, ph.Passes, ph.Arcs, len(p.Pairs))
		}
	}
}
