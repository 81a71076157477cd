package ot

import "math"

// arc is a candidate pair (source, col) of the transport problem, kept in
// the source's list with its cost C_ij.
type arc struct {
	col  int32
	cost float64
}

// nearest keeps the k smallest of the (key, index) pairs offered to it.
// Offers below bound go into a buffer of up to 2k entries, which is cut back
// to its k smallest by quickselect when full, bound becoming the largest kept
// key: O(1) amortised per offer that gets in, and one comparison for the
// many that do not.
type nearest struct {
	k     int
	key   []float64
	idx   []int32
	bound float64 // offers ≥ bound are not among the k smallest
}

func newNearest(k int) nearest {
	return nearest{k: k, key: make([]float64, 0, 2*k), idx: make([]int32, 0, 2*k), bound: math.Inf(1)}
}

func (h *nearest) reset() {
	h.key, h.idx, h.bound = h.key[:0], h.idx[:0], math.Inf(1)
}

// offer adds (c, j) if c is below bound.
func (h *nearest) offer(c float64, j int32) {
	if c >= h.bound {
		return
	}
	h.key, h.idx = append(h.key, c), append(h.idx, j)
	if len(h.key) == 2*h.k {
		h.cut()
	}
}

// cut keeps the k smallest entries (all if there are fewer) and lowers bound
// to the largest of them. Call it before reading key and idx.
func (h *nearest) cut() {
	if len(h.key) <= h.k {
		return
	}
	selectSmallest(h.key, h.idx, h.k)
	h.key, h.idx = h.key[:h.k], h.idx[:h.k]
	h.bound = h.key[0]
	for _, c := range h.key[1:] {
		h.bound = max(h.bound, c)
	}
}

// arcs cuts the heap to its k smallest entries and returns them as a row's
// arcs, with room for k more (the arcs pricing adds later).
func (h *nearest) arcs() []arc {
	h.cut()
	a := make([]arc, len(h.key), len(h.key)+h.k)
	for l, j := range h.idx {
		a[l] = arc{col: j, cost: h.key[l]}
	}
	return a
}

// selectSmallest reorders key (and idx alike) so that key[:k] holds the k
// smallest keys: Hoare's quickselect with a median-of-three pivot.
func selectSmallest(key []float64, idx []int32, k int) {
	t := k - 1 // the position to settle
	for lo, hi := 0, len(key)-1; lo < hi; {
		a, b, c := key[lo], key[lo+(hi-lo)/2], key[hi]
		p := max(min(a, b), min(max(a, b), c)) // median of a, b, c
		i, j := lo, hi
		for i <= j {
			for key[i] < p {
				i++
			}
			for key[j] > p {
				j--
			}
			if i <= j {
				key[i], key[j] = key[j], key[i]
				idx[i], idx[j] = idx[j], idx[i]
				i, j = i+1, j-1
			}
		}
		switch {
		case t <= j:
			hi = j
		case t >= i:
			lo = i
		default:
			return
		}
	}
}

// candidateArcs builds the sparse graph the exact solvers work on. On
// low-dimensional clouds (see useTrees), k-d trees find each source's arcs
// to its k nearest targets and to the targets of which it is one of the k
// nearest sources, in O((n + m)·k·log) searches. Elsewhere one pass over
// the rows of costs, on GOMAXPROCS goroutines, finds the first kind only:
// the targets' side took a second pass (or, in one pass, about a sixth of
// the solve, offering every row's costs to every column), and the arcs
// pricing adds in its place cost less. At 1000 × 1001, 1000 × 1500,
// 1500 × 1000 and 1000 × 1000 points in d = 5 the solves took 18–30% less
// CPU time without it, 8% less at 1000 × 1001 and 2000 × 3000 in d = 50
// (one core, minima of 40 solves, two runs each, 2026-12-07). Pricing
// later adds whatever arcs the optimum needs beyond these. Memory:
// O((n + m)·k).
func candidateArcs(c *costMatrix, k int) [][]arc {
	if !c.useTrees() {
		return nearestPerRow(c, min(k, c.m))
	}
	arcs := nearestOfSources(c, k)
	for i, as := range missingArcs(arcs, nearestOfTargets(c, k), c.m) {
		arcs[i] = append(arcs[i], as...)
	}
	return arcs
}

// nearestOfSources returns each source's arcs to its k nearest targets,
// searching the target tree (useTrees).
func nearestOfSources(c *costMatrix, k int) [][]arc {
	return nearestByTree(c.targetTree(), c.x, min(k, c.m))
}

// nearestOfTargets returns the arcs from each target's k nearest sources,
// listed by source (in the order of the targets), searching a source tree.
func nearestOfTargets(c *costMatrix, k int) [][]arc {
	byTarget := nearestByTree(newKDTree(c.x, c.d, c.cost), c.y, min(k, c.n))
	arcs := make([][]arc, c.n)
	for j, as := range byTarget {
		for _, a := range as {
			arcs[a.col] = append(arcs[a.col], arc{col: int32(j), cost: a.cost})
		}
	}
	return arcs
}

// missingArcs returns, by source, the arcs of more that have does not hold
// (m targets).
func missingArcs(have, more [][]arc, m int) [][]arc {
	missing := make([][]arc, len(have))
	holds := make([]int32, m) // holds[j] == i+1: have[i] reaches j
	for i, as := range have {
		for _, a := range as {
			holds[a.col] = int32(i) + 1
		}
		for _, a := range more[i] {
			if holds[a.col] != int32(i)+1 {
				missing[i] = append(missing[i], a)
			}
		}
	}
	return missing
}

// nearestPerRow returns the arcs from each row of c to its k nearest
// columns. The minima of the slices of a row are distinct entries, so the
// k-th smallest of 4k slice minima bounds the k-th smallest cost: only
// entries up to it are offered. (The largest of k minima bounds it too,
// but lets several times more entries through: at 1000 × 1001 points in
// d = 5 the offers and their cuts took as long as the costs.)
func nearestPerRow(c *costMatrix, k int) [][]arc {
	arcs := make([][]arc, c.n)
	parallelRows(c.n, func(_, lo, hi int) {
		h := newNearest(k)
		buf := make([]float64, c.m)
		slice := max(1, c.m/(4*k))
		minima := make([]float64, 0, c.m/slice+1)
		order := make([]int32, cap(minima))
		for i := lo; i < hi; i++ {
			arcs[i] = nearestInRow(c.row(i, buf), &h, k, slice, minima, order)
		}
	})
	return arcs
}

// nearestInRow returns the arcs to the k nearest columns of the row of
// costs r, offering h (k) only the costs up to the k-th smallest of the
// minima of r's slices of the given length; minima and order are work
// arrays with room for a minimum a slice.
func nearestInRow(r []float64, h *nearest, k, slice int, minima []float64, order []int32) []arc {
	h.reset()
	minima = minima[:0]
	for s := 0; s < len(r); s += slice {
		least := math.Inf(1)
		for _, cij := range r[s:min(s+slice, len(r))] {
			least = min(least, cij)
		}
		minima = append(minima, least)
	}
	selectSmallest(minima, order[:len(minima)], k)
	bound := minima[0]
	for _, v := range minima[1:k] {
		bound = max(bound, v)
	}
	h.bound = math.Nextafter(bound, math.Inf(1))
	for j, cij := range r {
		if cij < h.bound {
			h.offer(cij, int32(j))
		}
	}
	return h.arcs()
}
