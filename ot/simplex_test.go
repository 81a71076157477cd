package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestShieldedPricing checks the bounds a pricing pass leaves and the
// sources a later pass may skip against all pairs: at the optimum guard[i]
// is the least C_ij − V_j outside the graph, and after the potentials move
// every source shielded does not return has its row minimum on its arcs
// (so no pair of the row violates the potentials) and U_i equal to it.
func TestShieldedPricing(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	skipped, kept := 0, 0
	for _, shape := range []struct{ n, m, d int }{{40, 57, 5}, {61, 30, 3}, {50, 51, 1}} {
		n, m, d := shape.n, shape.m, shape.d
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		c := newCostMatrix(x, y, d, SqEuclidean, 0)
		if c.useTrees() {
			t.Fatalf("%v: expected passes over rows", shape)
		}
		g := gcd(n, m)
		ns := newNetworkSimplex(c, filled(n, int64(m/g)), filled(m, int64(n/g)))
		_, v := ns.solve()
		limit, u, guard := make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range limit {
			limit[i] = -ns.pi[i] - ns.tol
		}
		graph := ns.columnsBySource()
		if add := priceRowsShielded(c, v, limit, nil, u, graph, guard); slices.ContainsFunc(add, func(as []arc) bool { return len(as) > 0 }) {
			t.Fatalf("%v: pricing at the optimum added arcs", shape)
		}
		buf := make([]float64, m)
		for i := range n {
			outside := math.Inf(1)
			for j, cij := range c.row(i, buf) {
				if !slices.Contains(graph[i], int32(j)) {
					outside = min(outside, cij-v[j])
				}
			}
			if guard[i] != outside {
				t.Fatalf("%v: source %d: guard %v, least pair outside the graph %v", shape, i, guard[i], outside)
			}
		}
		for _, step := range []float64{1e-4, 1e-3, 1e-2, 1e-1} {
			moved := slices.Clone(v)
			for j := range moved {
				moved[j] += step * (2*rng.Float64() - 1)
			}
			bounds, u := slices.Clone(guard), make([]float64, n)
			rows := ns.shielded(bounds, v, moved, u)
			for i := range n {
				if slices.Contains(rows, int32(i)) {
					kept++
					continue
				}
				skipped++
				least := math.Inf(1)
				for j, cij := range c.row(i, buf) {
					least = min(least, cij-moved[j])
				}
				if u[i] != least {
					t.Fatalf("%v, step %v: skipped source %d has U %v, its row minimum is %v", shape, step, i, u[i], least)
				}
			}
		}
	}
	// Potentials far from optimal: more pairs fall below the limits than
	// pricing adds, and guard must still bound the pairs it left out.
	n, m, d := 30, 200, 4
	x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
	c := newCostMatrix(x, y, d, SqEuclidean, 0)
	v, limit, u, guard := make([]float64, m), make([]float64, n), make([]float64, n), make([]float64, n)
	for j := range v {
		v[j] = rng.Float64()
	}
	graph := make([][]int32, n)
	for i := range graph {
		graph[i] = []int32{int32(rng.IntN(m)), int32(rng.IntN(m))}
	}
	add := priceRowsShielded(c, v, limit, nil, u, graph, guard)
	buf := make([]float64, m)
	for i := range n {
		if len(add[i]) != candidates {
			t.Fatalf("source %d: %d arcs added, expected %d", i, len(add[i]), candidates)
		}
		for j, cij := range c.row(i, buf) {
			left := !slices.Contains(graph[i], int32(j)) && !slices.ContainsFunc(add[i], func(a arc) bool { return a.col == int32(j) })
			if left && cij-v[j] < guard[i] {
				t.Fatalf("source %d: pair %d left out at %v, below its guard %v", i, j, cij-v[j], guard[i])
			}
		}
	}
	if skipped == 0 || kept == 0 {
		t.Fatalf("%d sources skipped, %d kept: expected both", skipped, kept)
	}
}

// TestNetworkSimplexRepeats checks that solves repeat: the passes split
// over goroutines give the same arcs every time, so the same pivots and the
// same plan pair for pair, on tied points too.
func TestNetworkSimplexRepeats(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, shape := range []struct{ n, m, d int }{{200, 301, 5}, {301, 200, 2}, {150, 151, 3}} {
		x, y := gridCloud(rng, shape.n, shape.d, 4), gridCloud(rng, shape.m, shape.d, 4)
		first, err := Exact(x, y, shape.d, SqEuclidean)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			again, err := Exact(x, y, shape.d, SqEuclidean)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(again.Pairs, first.Pairs) {
				t.Fatalf("%v: another solve gave another plan", shape)
			}
		}
	}
}

// TestInitialBasis checks the first basis where the candidate arcs leave
// points open: n + m − 1 tree arcs whose flows meet every perturbed supply
// and demand, none of them negative.
func TestInitialBasis(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, shape := range []struct{ n, m, d int }{{300, 301, 5}, {200, 450, 3}, {400, 250, 2}} {
		n, m, d := shape.n, shape.m, shape.d
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		c := newCostMatrix(x, y, d, SqEuclidean, 0)
		g := gcd(n, m)
		s, dem := filled(n, int64(m/g)), filled(m, int64(n/g))
		ns := newNetworkSimplex(c, s, dem)
		supply, demand := make([]int64, n), make([]int64, m)
		tree := 0
		for e, in := range ns.inTree {
			if !in {
				continue
			}
			if ns.flow[e] <= 0 {
				t.Fatalf("%v: tree arc %d carries %d", shape, e, ns.flow[e])
			}
			tree++
			supply[ns.src[e]] += ns.flow[e]
			demand[ns.dst[e]-int32(n)] += ns.flow[e]
		}
		if tree != n+m-1 {
			t.Fatalf("%v: %d tree arcs, expected %d", shape, tree, n+m-1)
		}
		for i := range n {
			if supply[i] != ns.scale*s[i]+1 {
				t.Fatalf("%v: source %d sends %d, expected %d", shape, i, supply[i], ns.scale*s[i]+1)
			}
		}
		for j := range m {
			want := ns.scale * dem[j]
			if j == m-1 {
				want += int64(n)
			}
			if demand[j] != want {
				t.Fatalf("%v: target %d receives %d, expected %d", shape, j, demand[j], want)
			}
		}
	}
}
