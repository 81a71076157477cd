package ot

import (
	"fmt"
	"math"
)

// Certify checks that p is an optimal plan between the uniform measures on
// x (n points) and y (m points) for the cost, by its dual certificate:
// the marginals are 1/n and 1/m, U_i + V_j ≤ C_ij on all n·m pairs, with
// equality on the plan's pairs, and the dual value Σ U_i/n + Σ V_j/m equals
// the plan's cost. With B the largest cost across the clouds' bounding box,
// U_i + V_j may exceed C_ij by 1e-12·B (the solvers' pricing tolerance),
// and the pairs' slack and the duality gap may reach 1e-9·B (the
// potentials are sums along paths of the simplex tree): the plan's cost is
// then within about 2e-9·B of the optimum, and in practice equal to it.
//
// It never builds the cost matrix: for each source it computes the
// c-transform min_j (C_ij − V_j) by a k-d tree search over the targets in
// low dimension (see kdTree), by a pass over the row of costs otherwise,
// so it takes the memory of the points and a fraction of a solve's time.
// The error names the first violation found.
func Certify(x, y []float64, d int, cost Cost, p *Plan) error {
	if _, _, err := checkClouds(x, y, d, cost); err != nil {
		return err
	}
	return certify(x, y, d, cost, p, nil, nil)
}

// CertifyMasses is Certify for a plan of ExactMasses: the marginals are
// s_i/S and t_j/S, and the dual value Σ U_i s_i/S + Σ V_j t_j/S.
func CertifyMasses(x, y []float64, d int, cost Cost, s, t []int64, p *Plan) error {
	n, m, err := checkClouds(x, y, d, cost)
	if err != nil {
		return err
	}
	total, err := checkMasses(n, m, s, t)
	if err != nil {
		return err
	}
	a, b := make([]float64, n), make([]float64, m)
	for i, v := range s {
		a[i] = float64(v) / float64(total)
	}
	for j, v := range t {
		b[j] = float64(v) / float64(total)
	}
	return certify(x, y, d, cost, p, a, b)
}

// certify checks p against the row masses a and column masses b (nil:
// uniform, 1/n and 1/m).
func certify(x, y []float64, d int, cost Cost, p *Plan, a, b []float64) error {
	n, m := len(x)/d, len(y)/d
	if p.N != n || p.M != m || len(p.U) != n || len(p.V) != m {
		return fmt.Errorf("ot: plan of %d × %d points with %d and %d duals, expected %d × %d", p.N, p.M, len(p.U), len(p.V), n, m)
	}
	c := newCostMatrix(x, y, d, cost, 0)
	bound := c.bound()
	tol := 1e-12 * max(bound, math.SmallestNonzeroFloat64)
	slack := 1000 * tol
	rows, cols := make([]float64, n), make([]float64, m)
	var total float64
	for _, q := range p.Pairs {
		if q.I < 0 || q.I >= n || q.J < 0 || q.J >= m || !(q.W > 0) {
			return fmt.Errorf("ot: plan pair %+v out of range or without mass", q)
		}
		cij := c.at(q.I, q.J)
		if gap := cij - p.U[q.I] - p.V[q.J]; math.Abs(gap) > slack {
			return fmt.Errorf("ot: pair (%d, %d) carries mass but is not tight: C − U − V = %.3g", q.I, q.J, gap)
		}
		rows[q.I] += q.W
		cols[q.J] += q.W
		total += q.W * cij
	}
	if a == nil {
		a, b = uniform(n), uniform(m)
	}
	for i, r := range rows {
		if math.Abs(r-a[i]) > 1e-12 {
			return fmt.Errorf("ot: row %d of the plan sums to %v, expected %v", i, r, a[i])
		}
	}
	for j, s := range cols {
		if math.Abs(s-b[j]) > 1e-12 {
			return fmt.Errorf("ot: column %d of the plan sums to %v, expected %v", j, s, b[j])
		}
	}
	limit := make([]float64, n)
	for i := range limit {
		limit[i] = p.U[i] - tol
	}
	u := make([]float64, n)
	for i, as := range priceRows(c, p.V, limit, nil, u) {
		if len(as) > 0 {
			j := as[0].col
			for _, a := range as {
				if a.cost-p.V[a.col] < c.at(i, int(j))-p.V[j] {
					j = a.col
				}
			}
			return fmt.Errorf("ot: dual infeasible at (%d, %d): U + V − C = %.3g", i, j, p.U[i]+p.V[j]-c.at(i, int(j)))
		}
	}
	var dual float64
	for i, ui := range p.U {
		dual += ui * a[i]
	}
	for j, vj := range p.V {
		dual += vj * b[j]
	}
	if math.Abs(dual-total) > slack {
		return fmt.Errorf("ot: duality gap: plan cost %v, dual value %v", total, dual)
	}
	return nil
}

// uniform returns n masses 1/n.
func uniform(n int) []float64 {
	a := make([]float64, n)
	for i := range a {
		a[i] = 1 / float64(n)
	}
	return a
}
