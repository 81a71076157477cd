package ot

import (
	"slices"
	"time"
)

// Pair is one entry of a transport plan: source point I sends mass W to
// target point J.
type Pair struct {
	I, J int
	W    float64
}

// Plan is a sparse transport plan between N source and M target points.
type Plan struct {
	N, M int
	// Pairs holds the entries with positive mass, sorted by I, then J.
	Pairs []Pair
	// Cost is Σ W·c(x_I, y_J) over the pairs.
	Cost float64
	// U and V are dual potentials, set by the exact solvers (nil for block
	// and entropic plans): U_i + V_j ≤ c(x_i, y_j) for all i, j, with
	// equality on every pair, so Σ_i U_i/N + Σ_j V_j/M = Cost (up to
	// rounding) certifies that the plan is optimal.
	U, V []float64
	// Phases is where the exact solve spent its time (nil for block and
	// entropic plans).
	Phases *Phases
}

// Phases is where an exact solve spent its wall time, each part measured
// on the goroutine that runs the solve, so the parts add up to about the
// whole (work other goroutines do meanwhile is not counted twice).
type Phases struct {
	// Costs is storing the cost matrix (0 where rows are recomputed, see
	// Exact's memory note); Candidates, finding the sparse graph's nearest
	// targets of each source; Solve, LAPJV's initialisation and augmenting
	// paths or the network simplex's first basis and pivots; Pricing, the
	// passes over all pairs that check them against the duals.
	Costs, Candidates, Solve, Pricing time.Duration
	// Steps counts the network simplex's pivots or LAPJV's augmenting paths
	// (after its initialisation), Passes the pricing passes, Arcs the arcs
	// of the final sparse graph.
	Steps, Passes, Arcs int
}

// Total is the sum of the parts.
func (p *Phases) Total() time.Duration { return p.Costs + p.Candidates + p.Solve + p.Pricing }

// since adds the time since start to *part and returns now, the next
// part's start.
func since(part *time.Duration, start time.Time) time.Time {
	now := time.Now()
	*part += now.Sub(start)
	return now
}

// FilterPairs returns the pairs of an exact plan that carry real mass,
// W > 1/(10·max(N, M)) (docs/design.md §2.1): for N = M that is the
// whole permutation, n pairs of weight 1/n. The weights are kept as they are,
// so they sum to at most 1. Exact does not filter; the couplings code calls
// this.
func FilterPairs(p *Plan) []Pair {
	threshold := 1 / (10 * float64(max(p.N, p.M)))
	var kept []Pair
	for _, q := range p.Pairs {
		if q.W > threshold {
			kept = append(kept, q)
		}
	}
	return kept
}

// newPlan sorts the pairs by source, then target, and adds up their cost.
func newPlan(c *costMatrix, pairs []Pair, u, v []float64) *Plan {
	slices.SortFunc(pairs, func(a, b Pair) int {
		if a.I != b.I {
			return a.I - b.I
		}
		return a.J - b.J
	})
	p := &Plan{N: c.n, M: c.m, Pairs: pairs, U: u, V: v}
	for _, q := range pairs {
		p.Cost += q.W * c.at(q.I, q.J)
	}
	return p
}
