package ot

import (
	"fmt"
	"slices"
)

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
// Memory: where k-d trees serve (see Solver), no cost matrix; elsewhere
// the costs are stored up to 64 MiB (n·m ≤ 2^23) and each row recomputed
// when a pass over all pairs needs it beyond that. The sparse graph takes
// O(n·k) with k = 24 nearest targets a source where k-d trees find them
// and 16 where passes over rows do, plus the arcs pricing adds, O(n + m)
// work arrays and the plan: 10^5 × 10^5 points in d = 5 run in 166 MiB.
func Exact(x, y []float64, d int, cost Cost) (*Plan, error) {
	if _, _, err := checkClouds(x, y, d, cost); err != nil {
		return nil, err
	}
	return exact(exactCosts(x, y, d, cost)), nil
}

// exactCosts returns the cost matrix the exact solvers work on: stored
// (up to storedCosts bytes) where they pass over rows of costs instead of
// searching k-d trees, since every row is then read at least twice, by the
// candidate arcs and by pricing; recomputed otherwise. With the candidate
// arcs of one side (see candidateArcs), storing took the CPU time of a
// solve from 78–83 to 45–46 ms at 1000 × 1001 points in d = 50, 32 to
// 27–30 in d = 12, 15.8 to 13.7–14.0 at 1000 × 1000 in d = 5, and left
// 1000 × 1001 and 1000 × 1500 in d = 5 within ±3%, where reading rows back
// costs about what computing them does (one core, minima of 40 solves, two
// runs each, 2026-12-07).
func exactCosts(x, y []float64, d int, cost Cost) *costMatrix {
	var budget int64
	if !(&costMatrix{n: len(x) / d, m: len(y) / d, d: d}).useTrees() {
		budget = storedCosts
	}
	return newCostMatrix(x, y, d, cost, budget)
}

// storedCosts bounds the cost matrix the exact solvers store, in bytes: 64
// MiB, 2896 × 2896 points.
const storedCosts = 64 << 20

// exact solves the uniform problem on a cost matrix: LAPJV for n = m ≥ 2,
// the network simplex otherwise. The choice is measured (issue 20, d = 5,
// one process each, 2026-12-07, shared machine): for n = m = 10^4 LAPJV
// took 1.7 s and the network simplex 6.2 s (one run each); for 4000 × 6000
// (3 alternating runs) the network simplex took 1.0–1.8 s and LAPJV on the
// replicated assignment of size lcm(n, m)
// (each point repeated, see replicatedCosts in the tests) 4.0–5.3 s, its
// duplicate points making ties everywhere, so unequal sizes stay with the
// network simplex. Measured again after the simplex's radix-sorted basis
// and shorter blocks (CPU time on one core, 3 runs each, 2026-12-07): on
// the square problem LAPJV took 28–31 ms against the network simplex's
// 31–36 ms at 1000 points in d = 2, 25–26 against 41–54 in d = 5,
// 151–173 against 200–228 at 3000 in d = 2 and 218–263 against 359–400 in
// d = 5, the same optimal cost; so the assignment stays the square
// problem's solver.
func exact(c *costMatrix) *Plan {
	n, m := c.n, c.m
	g := gcd(n, m)
	// One unit of flow weighs 1/F = g/(n·m).
	unit := float64(g) / (float64(n) * float64(m))
	if n != m || n == 1 {
		ns := newNetworkSimplex(c, filled(n, int64(m/g)), filled(m, int64(n/g)))
		u, v := ns.solve()
		return ns.plan(unit, u, v)
	}
	a := newAssignment(c)
	return a.plan(a.solve())
}

// ExactMasses returns an optimal plan between the measures that put mass
// s_i/S on source point i and t_j/S on target point j, S = Σ s_i = Σ t_j:
//
//	min Σ_ij P_ij c(x_i, y_j)  over P ≥ 0 with row sums s_i/S, column sums t_j/S.
//
// The masses are positive integers (counts of cells, of duplicates, or
// weights on a common grid), so the network simplex solves the problem
// exactly in integers, as it does the uniform one; (4n + 1)·S must stay
// below 2^62. Equal masses on each side are the uniform problem and go to
// Exact's solvers (LAPJV when n = m); otherwise the network simplex on the
// same sparse candidate graph with pricing over all n·m pairs. The plan's
// duals satisfy U_i + V_j ≤ C_ij with Σ_i U_i s_i/S + Σ_j V_j t_j/S = Cost;
// CertifyMasses checks them. Do not filter its pairs with FilterPairs,
// whose threshold assumes uniform masses.
func ExactMasses(x, y []float64, d int, cost Cost, s, t []int64) (*Plan, error) {
	n, m, err := checkClouds(x, y, d, cost)
	if err != nil {
		return nil, err
	}
	total, err := checkMasses(n, m, s, t)
	if err != nil {
		return nil, err
	}
	c := exactCosts(x, y, d, cost)
	if !slices.ContainsFunc(s, func(v int64) bool { return v != s[0] }) && !slices.ContainsFunc(t, func(v int64) bool { return v != t[0] }) {
		return exact(c), nil
	}
	ns := newNetworkSimplex(c, s, t)
	u, v := ns.solve()
	return ns.plan(1/float64(total), u, v), nil
}

// maxMassScale bounds (4n + 1)·S, the network simplex's largest perturbed
// flow, well inside int64.
const maxMassScale = 1 << 62

// checkMasses validates the masses of n sources and m targets and returns
// their total S.
func checkMasses(n, m int, s, t []int64) (int64, error) {
	if len(s) != n || len(t) != m {
		return 0, fmt.Errorf("ot: %d source and %d target masses for %d and %d points", len(s), len(t), n, m)
	}
	var totals [2]int64
	for side, masses := range [][]int64{s, t} {
		name := [2]string{"source", "target"}[side]
		for i, v := range masses {
			if v <= 0 {
				return 0, fmt.Errorf("ot: %s mass %d is %d, expected a positive integer", name, i, v)
			}
			if limit := maxMassScale / int64(4*n+1); v > limit-totals[side] {
				return 0, fmt.Errorf("ot: %s masses sum past %d, the most the network simplex can scale for %d sources", name, limit, n)
			}
			totals[side] += v
		}
	}
	if totals[0] != totals[1] {
		return 0, fmt.Errorf("ot: source masses sum to %d, target masses to %d, expected equal totals", totals[0], totals[1])
	}
	return totals[0], nil
}

// filled returns n copies of v.
func filled(n int, v int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
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
