package ot

import "math"

// priceRows checks the pairs of the listed sources (all when rows is nil)
// against the target potentials v. For each such source i it sets
// u[i] = min_j (C_ij − v_j) and, where some C_ij − v_j < limit[i], returns
// the most violated of those pairs (up to candidates of them) in add[i], as
// arcs to add to the sparse graph. Cost: one pass over the listed rows of
// costs, on GOMAXPROCS goroutines.
//
// On low-dimensional clouds (see useTrees) it searches the target k-d tree
// instead (priceByTree), with the same results up to the order of ties.
func priceRows(c *costMatrix, v, limit []float64, rows []int32, u []float64) (add [][]arc) {
	if c.useTrees() {
		return priceByTree(c, v, limit, rows, u)
	}
	return priceRowsShielded(c, v, limit, rows, u, nil, nil)
}

// priceRowsShielded is priceRows passing over the rows of costs, and, when
// graph is not nil (the columns of each source's arcs in the sparse graph),
// it also writes into guard[i] a lower bound of C_ij − v_j over the pairs
// of source i left out of both the graph and add[i]: the least of them at
// or above limit[i], or the largest of the arcs kept in add[i] when more
// pairs fell below limit[i] than add[i] holds. A later round of pricing
// can skip a source whose bound, less the rise of v since, still clears
// its arcs (see networkSimplex.shielded).
func priceRowsShielded(c *costMatrix, v, limit []float64, rows []int32, u []float64, graph [][]int32, guard []float64) (add [][]arc) {
	add = make([][]arc, c.n)
	count := len(rows)
	if rows == nil {
		count = c.n
	}
	parallelRows(count, func(_, lo, hi int) {
		worst := newNearest(candidates)
		buf := make([]float64, c.m)
		inGraph := make([]bool, c.m)
		v := v[:c.m]
		for k := lo; k < hi; k++ {
			i := k
			if rows != nil {
				i = int(rows[k])
			}
			if graph != nil {
				for _, j := range graph[i] {
					inGraph[j] = true
				}
			}
			li := limit[i]
			best, rest := math.Inf(1), math.Inf(1)
			worst.reset()
			r := c.row(i, buf)
			for j, cij := range r {
				h := cij - v[j]
				if h < best {
					best = h
				}
				if h < li {
					worst.offer(h, int32(j))
				} else if h < rest && graph != nil && !inGraph[j] {
					rest = h
				}
			}
			worst.cut()
			u[i] = best
			for _, j := range worst.idx {
				add[i] = append(add[i], arc{col: j, cost: r[j]})
			}
			if graph != nil {
				guard[i] = min(rest, worst.bound)
				for _, j := range graph[i] {
					inGraph[j] = false
				}
			}
		}
	})
	return add
}

// pricingTolerance is the rounding allowance of the exact solvers: reduced
// costs down to −pricingTolerance times the largest possible cost (see
// costMatrix.bound) count as 0.
const pricingTolerance = 1e-12
