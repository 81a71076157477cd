package ot

import (
	"math"
	"math/rand/v2"
	"testing"
)

// uniformCloud returns n points uniform on [0, 1]^d.
func uniformCloud(rng *rand.Rand, n, d int) []float64 {
	x := make([]float64, n*d)
	for k := range x {
		x[k] = rng.Float64()
	}
	return x
}

// gridCloud returns n points with integer coordinates in [0, side)^d: many
// equal costs, and duplicate points once n is large.
func gridCloud(rng *rand.Rand, n, d, side int) []float64 {
	x := make([]float64, n*d)
	for k := range x {
		x[k] = float64(rng.IntN(side))
	}
	return x
}

// costOf returns c(x_i, y_j) computed from the points.
func costOf(x, y []float64, d int, cost Cost, i, j int) float64 {
	return cost.Between(x[i*d:(i+1)*d], y[j*d:(j+1)*d])
}

// checkMarginals checks that the plan has row sums 1/n, column sums 1/m and
// the cost it claims.
func checkMarginals(t *testing.T, p *Plan, x, y []float64, d int, cost Cost) {
	t.Helper()
	n, m := len(x)/d, len(y)/d
	rows, cols := make([]float64, n), make([]float64, m)
	var total float64
	for _, q := range p.Pairs {
		if q.W <= 0 {
			t.Fatalf("pair %+v has no mass", q)
		}
		rows[q.I] += q.W
		cols[q.J] += q.W
		total += q.W * costOf(x, y, d, cost, q.I, q.J)
	}
	for i, r := range rows {
		if math.Abs(r-1/float64(n)) > 1e-12 {
			t.Fatalf("row %d sums to %v, want 1/%d", i, r, n)
		}
	}
	for j, c := range cols {
		if math.Abs(c-1/float64(m)) > 1e-12 {
			t.Fatalf("column %d sums to %v, want 1/%d", j, c, m)
		}
	}
	if math.Abs(total-p.Cost) > 1e-12*(1+math.Abs(total)) {
		t.Fatalf("plan claims cost %v, pairs cost %v", p.Cost, total)
	}
}

// checkDuals checks the plan's dual certificate against costs recomputed
// from the points: U_i + V_j ≤ C_ij for all i, j, equality on the pairs,
// and Σ U_i/n + Σ V_j/m equal to the plan's cost.
func checkDuals(t *testing.T, p *Plan, x, y []float64, d int, cost Cost) {
	t.Helper()
	n, m := len(x)/d, len(y)/d
	if len(p.U) != n || len(p.V) != m {
		t.Fatalf("duals have sizes %d, %d, want %d, %d", len(p.U), len(p.V), n, m)
	}
	const tol = 1e-9
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			if c := costOf(x, y, d, cost, i, j); p.U[i]+p.V[j] > c+tol {
				t.Fatalf("dual infeasible at (%d, %d): %v + %v > %v", i, j, p.U[i], p.V[j], c)
			}
		}
	}
	for _, q := range p.Pairs {
		if c := costOf(x, y, d, cost, q.I, q.J); p.U[q.I]+p.V[q.J] < c-tol {
			t.Fatalf("pair (%d, %d) is not tight: %v + %v < %v", q.I, q.J, p.U[q.I], p.V[q.J], c)
		}
	}
	var dual float64
	for _, u := range p.U {
		dual += u / float64(n)
	}
	for _, v := range p.V {
		dual += v / float64(m)
	}
	if math.Abs(dual-p.Cost) > tol*(1+math.Abs(p.Cost)) {
		t.Fatalf("duality gap: primal %v, dual %v", p.Cost, dual)
	}
}
