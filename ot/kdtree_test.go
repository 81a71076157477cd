package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// withTrees runs f with the exact solvers searching k-d trees on every
// problem in dimension ≤ treeMaxDim, however small.
func withTrees(t *testing.T, f func()) {
	t.Helper()
	old := treeMinPairs
	treeMinPairs = 0
	defer func() { treeMinPairs = old }()
	f()
}

func arcSet(as []arc) []int32 {
	var s []int32
	for _, a := range as {
		s = append(s, a.col)
	}
	slices.Sort(s)
	return s
}

// The tree searches return what the passes over rows of costs return:
// the same k nearest, the same c-transform bit for bit, the same violated
// pairs.
func TestTreeSearchesMatchRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 1))
	for _, d := range []int{1, 2, 3, 5} {
		for _, cost := range []Cost{SqEuclidean, Euclidean} {
			n, m := 301, 197
			x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
			c := newCostMatrix(x, y, d, cost, 0)
			want := nearestPerRow(c, 7)
			got := nearestByTree(c.targetTree(), x, 7)
			for i := range want {
				if !slices.Equal(arcSet(want[i]), arcSet(got[i])) {
					t.Fatalf("d=%d %v: source %d: tree neighbours %v, rows %v", d, cost, i, arcSet(got[i]), arcSet(want[i]))
				}
			}
			v, limit := make([]float64, m), make([]float64, n)
			for j := range v {
				v[j] = rng.Float64() * 0.3
			}
			for i := range limit {
				limit[i] = rng.Float64()*0.2 - 0.2
			}
			uRows, uTree := make([]float64, n), make([]float64, n)
			addRows := priceRows(c, v, limit, nil, uRows)
			addTree := priceByTree(c, v, limit, nil, uTree)
			violated := 0
			for i := range uRows {
				if uRows[i] != uTree[i] {
					t.Fatalf("d=%d %v: c-transform of source %d: tree %v, rows %v", d, cost, i, uTree[i], uRows[i])
				}
				if !slices.Equal(arcSet(addRows[i]), arcSet(addTree[i])) {
					t.Fatalf("d=%d %v: source %d: tree adds %v, rows %v", d, cost, i, arcSet(addTree[i]), arcSet(addRows[i]))
				}
				violated += len(addRows[i])
			}
			if violated == 0 {
				t.Fatalf("d=%d %v: the limits found no violation to compare", d, cost)
			}
		}
	}
}

// Through the trees, the exact solvers still match brute force on tiny
// problems (square and rectangular, ties and duplicates included), and
// their plans pass Certify.
func TestTreeExactBruteForce(t *testing.T) {
	withTrees(t, func() {
		rng := rand.New(rand.NewPCG(20, 2))
		sizes := [][2]int{{1, 1}, {3, 3}, {6, 6}, {2, 3}, {3, 2}, {4, 6}, {5, 7}, {7, 5}, {1, 7}}
		for _, s := range sizes {
			n, m := s[0], s[1]
			for trial := 0; trial < 8; trial++ {
				x, y := uniformCloud(rng, n, 2), uniformCloud(rng, m, 2)
				if trial%2 == 1 {
					x, y = gridCloud(rng, n, 2, 3), gridCloud(rng, m, 2, 3)
				}
				for _, cost := range []Cost{SqEuclidean, Euclidean} {
					p, err := Exact(x, y, 2, cost)
					if err != nil {
						t.Fatal(err)
					}
					c := replicatedCosts(x, y, 2, cost)
					want := hungarian(c) / float64(len(c))
					if len(c) <= 7 {
						want = bruteForceAssignment(c) / float64(len(c))
					}
					if math.Abs(p.Cost-want) > 1e-12*(1+want) {
						t.Fatalf("%dx%d %v: cost %v, brute force %v", n, m, cost, p.Cost, want)
					}
					checkMarginals(t, p, x, y, 2, cost)
					checkDuals(t, p, x, y, 2, cost)
					if err := Certify(x, y, 2, cost, p); err != nil {
						t.Fatalf("%dx%d %v: %v", n, m, cost, err)
					}
				}
			}
		}
	})
}

// On coprime and unequal shapes the tree path gives the plan of the row
// passes: the same cost to 1e-12 and, the optimum being unique on random
// points, the same pairs.
func TestTreeExactMatchesRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 3))
	for _, s := range [][3]int{{400, 400, 2}, {300, 451, 2}, {500, 333, 5}, {257, 256, 3}} {
		n, m, d := s[0], s[1], s[2]
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		for _, cost := range []Cost{SqEuclidean, Euclidean} {
			rows, err := Exact(x, y, d, cost)
			if err != nil {
				t.Fatal(err)
			}
			var tree *Plan
			withTrees(t, func() { tree, err = Exact(x, y, d, cost) })
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(tree.Cost-rows.Cost) > 1e-12*rows.Cost {
				t.Fatalf("%dx%d d%d %v: tree cost %.17g, rows %.17g", n, m, d, cost, tree.Cost, rows.Cost)
			}
			if !slices.Equal(tree.Pairs, rows.Pairs) {
				t.Errorf("%dx%d d%d %v: the plans differ", n, m, d, cost)
			}
			withTrees(t, func() { err = Certify(x, y, d, cost, tree) })
			if err != nil {
				t.Fatalf("%dx%d d%d %v: %v", n, m, d, cost, err)
			}
		}
	}
}

// Certify catches a planted violation of each kind, with trees and
// without.
func TestCertifyCatchesViolations(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 4))
	x, y := uniformCloud(rng, 60, 2), uniformCloud(rng, 90, 2)
	p, err := Exact(x, y, 2, SqEuclidean)
	if err != nil {
		t.Fatal(err)
	}
	for _, trees := range []bool{false, true} {
		check := func(q *Plan) error {
			if trees {
				var err error
				withTrees(t, func() { err = Certify(x, y, 2, SqEuclidean, q) })
				return err
			}
			return Certify(x, y, 2, SqEuclidean, q)
		}
		if err := check(p); err != nil {
			t.Fatalf("trees %v: the optimal plan fails: %v", trees, err)
		}
		plant := func(what string, f func(q *Plan)) {
			q := &Plan{N: p.N, M: p.M, Cost: p.Cost, Pairs: slices.Clone(p.Pairs), U: slices.Clone(p.U), V: slices.Clone(p.V)}
			f(q)
			if err := check(q); err == nil {
				t.Errorf("trees %v: %s passed Certify", trees, what)
			}
		}
		// Every U_i raised by a little: U_i + V_j now exceeds C_ij on the
		// plan's (tight) pairs.
		plant("raised source potentials", func(q *Plan) {
			for l := range q.U {
				q.U[l] += 1e-6
			}
		})
		plant("a dual pair raised on one source", func(q *Plan) { q.U[17] += 1e-6 })
		plant("mass moved between two pairs", func(q *Plan) {
			a, b := &q.Pairs[0], &q.Pairs[len(q.Pairs)-1]
			w := min(a.W, b.W) / 2
			a.W -= w
			b.W += w
		})
		plant("a swapped target", func(q *Plan) { q.Pairs[3].J = (q.Pairs[3].J + 1) % q.M })
	}
}
