package ot

// Exact returns an optimal plan between the uniform measures on the n source
// points x and the m target points y of dimension d:
//
//	min Σ_ij P_ij c(x_i, y_j)  over P ≥ 0 with row sums 1/n, column sums 1/m.
//
// For n = m this is an assignment problem, solved by LAPJV (Jonker &
// Volgenant 1987, see assignment), and the plan is a permutation with
// weights 1/n. Otherwise, scaled by F = lcm(n, m), it is a transportation
// problem with integer supplies m/g and demands n/g (g = gcd(n, m)), solved
// by the network simplex method (see networkSimplex). Both work on a sparse
// graph of near-neighbour pairs and then check every pair against the duals,
// adding what is missing, so the plan is optimal for the full problem. It
// carries its dual potentials as a certificate. Ties and duplicate points
// are fine.
//
// Memory: no cost matrix; each row of costs is recomputed when a pass over
// all pairs needs it (a handful of passes). The sparse graph takes
// O((n + m)·k) with k = candidates = 24, plus O(n + m) work arrays and the
// plan: 20,000 × 20,000 points in d = 2 run in about 120 MB all told.
func Exact(x, y []float64, d int, cost Cost) (*Plan, error) {
	if _, _, err := checkClouds(x, y, d, cost); err != nil {
		return nil, err
	}
	return exact(newCostMatrix(x, y, d, cost, 0)), nil
}

// exact solves the uniform problem on a cost matrix: LAPJV for n = m ≥ 2,
// the network simplex otherwise. The choice is measured (issue 20, d = 5,
// one process each, 2026-12-07, shared machine): for n = m = 10^4 LAPJV
// took 1.7 s and the network simplex 6.2 s (one run each); for 4000 × 6000
// (3 alternating runs) the network simplex took 1.0–1.8 s and LAPJV on the
// replicated assignment of size lcm(n, m)
// (each point repeated, see replicatedCosts in the tests) 4.0–5.3 s, its
// duplicate points making ties everywhere, so unequal sizes stay with the
// network simplex.
func exact(c *costMatrix) *Plan {
	n, m := c.n, c.m
	g := gcd(n, m)
	// One unit of flow weighs 1/F = g/(n·m).
	unit := float64(g) / (float64(n) * float64(m))
	if n != m || n == 1 {
		ns := newNetworkSimplex(c, int64(m/g), int64(n/g))
		u, v := ns.solve()
		return ns.plan(unit, u, v)
	}
	a := newAssignment(c)
	return a.plan(a.solve())
}

// Solver names the method Exact uses on n source and m target points of
// dimension d: "assignment" (LAPJV) or "network simplex", with "+ k-d
// trees" where its candidate arcs and pricing search k-d trees (see
// useTrees) instead of passing over rows of costs.
func Solver(n, m, d int) string {
	s := "network simplex"
	if n == m && n > 1 {
		s = "assignment"
	}
	if (&costMatrix{n: n, m: m, d: d}).useTrees() {
		s += " + k-d trees"
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
