package ot

import (
	"math"
	"slices"
)

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
// source's arcs to its k nearest targets, and to the targets of which it is
// one of the k nearest sources. Pricing later adds whatever arcs the optimum
// needs beyond these.
//
// Cost: one pass over all n·m costs (see nearestEachWay), on GOMAXPROCS
// goroutines; memory O((n + m)·k), and O(m·k) a goroutine during the pass.
//
// On low-dimensional clouds (see useTrees) the neighbours come from k-d
// trees instead: the same arcs up to ties, in O((n + m)·k·log) searches.
func candidateArcs(c *costMatrix, k int) [][]arc {
	arcs, more := nearestEachWay(c, k)
	for i, as := range missingArcs(arcs, more, c.m) {
		arcs[i] = append(arcs[i], as...)
	}
	return arcs
}

// nearestEachWay returns each source's arcs to its k nearest targets
// (bySource) and the arcs from each target's k nearest sources, listed by
// source in the order of the targets (byTarget). On trees (useTrees) these
// are nearestOfSources and nearestOfTargets. Otherwise one pass over the
// rows of costs finds both, where two passes did: each row picks its k
// nearest columns as nearestPerRow does, and offers its costs to every
// column whose k least so far they beat. After the first rows a column's
// bound turns nearly every offer away with one comparison (about 110
// offers a column at 1000 × 1001 points in d = 5). A column keeps its k
// least (cost, source) pairs, ties going to the lower source whichever
// goroutine saw them, so the result does not depend on GOMAXPROCS.
func nearestEachWay(c *costMatrix, k int) (bySource, byTarget [][]arc) {
	if c.useTrees() {
		return nearestOfSources(c, k), nearestOfTargets(c, k)
	}
	kr, kc := min(k, c.m), min(k, c.n)
	bySource = make([][]arc, c.n)
	columns := make([]*columnNearest, workers(c.n))
	parallelRows(c.n, func(w, lo, hi int) {
		h := newNearest(kr)
		col := newColumnNearest(c.m, kc)
		columns[w] = col
		buf := make([]float64, c.m)
		slice := max(1, c.m/(4*kr))
		minima := make([]float64, 0, c.m/slice+1)
		order := make([]int32, cap(minima))
		for i := lo; i < hi; i++ {
			r := c.row(i, buf)
			bySource[i] = nearestInRow(r, &h, kr, slice, minima, order)
			col.offerRow(r, int32(i))
		}
	})
	merged := columns[0]
	for _, col := range columns[1:] {
		merged.merge(col)
	}
	byTarget = make([][]arc, c.n)
	for j := range c.m {
		for _, a := range merged.nearest(j) {
			byTarget[a.col] = append(byTarget[a.col], arc{col: int32(j), cost: a.cost})
		}
	}
	return bySource, byTarget
}

// columnNearest keeps, for each of m columns, the k least (cost, row)
// pairs offered to it, in a buffer of up to 2k cut back to k when full, as
// nearest does for one row.
type columnNearest struct {
	k     int
	key   []float64 // column j's buffer is key[j·2k : j·2k+count[j]]
	row   []int32
	count []int32
	bound []float64 // offers at or above bound[j] are not among column j's k least
}

func newColumnNearest(m, k int) *columnNearest {
	col := &columnNearest{k: k, key: make([]float64, 2*k*m), row: make([]int32, 2*k*m), count: make([]int32, m), bound: make([]float64, m)}
	for j := range col.bound {
		col.bound[j] = math.Inf(1)
	}
	return col
}

// offerRow offers row i's costs r to every column; rows come in increasing
// order, so a cost equal to a column's bound loses the tie and is left out.
func (col *columnNearest) offerRow(r []float64, i int32) {
	bound := col.bound[:len(r)]
	for j, cij := range r {
		if cij < bound[j] {
			col.offer(j, cij, i)
		}
	}
}

func (col *columnNearest) offer(j int, c float64, i int32) {
	at := j*2*col.k + int(col.count[j])
	col.key[at], col.row[at] = c, i
	if col.count[j]++; int(col.count[j]) == 2*col.k {
		col.cut(j)
	}
}

// cut keeps column j's k least (cost, row) pairs and lowers its bound to the
// largest of them.
func (col *columnNearest) cut(j int) {
	lo, count := j*2*col.k, int(col.count[j])
	if count <= col.k {
		return
	}
	key, row := col.key[lo:lo+count], col.row[lo:lo+count]
	selectPairs(key, row, col.k)
	col.count[j] = int32(col.k)
	col.bound[j] = key[0]
	for _, c := range key[1:col.k] {
		col.bound[j] = max(col.bound[j], c)
	}
}

// merge adds other's pairs to col's. A cost equal to a column's bound is
// taken too: other's pairs come in no order of rows, and a later cut keeps
// the least rows among ties.
func (col *columnNearest) merge(other *columnNearest) {
	for j := range col.count {
		lo := j * 2 * col.k
		for l := range int(other.count[j]) {
			if c := other.key[lo+l]; c <= col.bound[j] {
				col.offer(j, c, other.row[lo+l])
			}
		}
	}
}

// nearest returns column j's k least pairs as arcs (col holding the row).
func (col *columnNearest) nearest(j int) []arc {
	col.cut(j)
	lo := j * 2 * col.k
	count := int(col.count[j])
	sortPairs(col.key[lo:lo+count], col.row[lo:lo+count])
	arcs := make([]arc, count)
	for l := range arcs {
		arcs[l] = arc{col: col.row[lo+l], cost: col.key[lo+l]}
	}
	return arcs
}

// selectPairs reorders the (key, row) pairs so that the first k are the k
// least by key, then row: selectSmallest by key, then, where pairs tied
// with the k-th key fell on both sides, the lowest rows among them kept.
func selectPairs(key []float64, row []int32, k int) {
	selectSmallest(key, row, k)
	b := key[0]
	for _, c := range key[1:k] {
		b = max(b, c)
	}
	if !slices.Contains(key[k:], b) {
		return
	}
	var tied []int32
	for l, c := range key {
		if c == b {
			tied = append(tied, row[l])
		}
	}
	slices.Sort(tied)
	for l, c := range key {
		if c == b {
			row[l], tied = tied[0], tied[1:]
		}
	}
}

// sortPairs sorts (key, row) pairs by key, then row: insertion sort, for
// the k pairs a column keeps.
func sortPairs(key []float64, row []int32) {
	for a := 1; a < len(key); a++ {
		c, i := key[a], row[a]
		b := a
		for ; b > 0 && (key[b-1] > c || key[b-1] == c && row[b-1] > i); b-- {
			key[b], row[b] = key[b-1], row[b-1]
		}
		key[b], row[b] = c, i
	}
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
