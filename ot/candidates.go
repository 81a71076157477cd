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

// candidateArcs builds the sparse graph the exact solvers work on: each
// source's arcs to its k nearest targets, found by searching a k-d tree of
// the targets on low-dimensional clouds (see useTrees), in O(n·k·log)
// searches, and elsewhere by one pass over the rows of costs, on
// GOMAXPROCS goroutines. Pricing adds whatever arcs the optimum needs
// beyond these. The arcs from each target's k nearest sources, which the
// graph also held until 2026-12-07, cost more than the arcs pricing adds
// in their place: without them the solves took 18–30% less CPU time at
// 1000 × 1001, 1000 × 1500, 1500 × 1000 and 1000 × 1000 points in d = 5
// and 8% less in d = 50 (passes over rows); 22–30% less at 1000 × 1000,
// 1000 × 1001 and 1000 × 1500 in d = 2 and 12% at 3000 × 3001 in d = 5
// (trees; one core, minima of 40 solves, two runs each); 10^5 × 10^5 in
// d = 5 took 31.7 s against 34.2 s and 166 MiB against 350 MiB, and
// 10^4 × 10001 in d = 5 about as long. Not everywhere: 3000 × 3000 and
// 3000 × 4500 points in d = 2 took 5–15% and 30% more (one core, two runs
// each; why was not measured); the rule stays one-sided for its gains
// elsewhere.
// Memory: O(n·k).
func candidateArcs(c *costMatrix, k int) [][]arc {
	if c.useTrees() {
		return nearestByTree(c.targetTree(), c.x, min(k, c.m))
	}
	return nearestPerRow(c, min(k, c.m))
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
