package ot

import (
	"math"
	"slices"
	"time"
)

// assignment is the exact solver for the square assignment problem
// min_π Σ_i C_iπ(i): LAPJV (Jonker & Volgenant, "A shortest augmenting path
// algorithm for dense and sparse linear assignment problems", Computing 38,
// 1987) on a sparse graph of candidate arcs, the pairs of near neighbours
// (see candidateArcs). Its initialisation (column reduction, reduction
// transfer, augmenting row reduction) assigns most sources; each source
// left free is then assigned along a shortest augmenting path (Dijkstra
// with a binary heap over the targets). Pricing then checks every pair of
// the full problem against the duals, adds the arcs that violate them and
// frees their sources, which are assigned again, until no pair violates the
// duals: the assignment is then optimal for the full problem, not only for
// the sparse one. After the first pricing pass over all sources, a pass
// checks only the sources whose duals moved since the last one (see price).
//
// Duals: the target potentials v are explicit and the source potentials are
// implicit, u_i = min over the source's arcs of C_ij − v_j. Every assigned
// source holds a target at that minimum (complementary slackness); this is
// the invariant that all phases keep.
//
// Memory: the candidate arcs, O(n·k) with k = candidates, and O(n) work
// arrays, besides the costs exactCosts stores.
type assignment struct {
	c       *costMatrix
	n       int
	arcs    [][]arc   // arcs[i]: the candidate arcs of source i
	v       []float64 // target potentials
	rowsol  []int32   // target of each source, −1 if free
	colsol  []int32   // source of each target, −1 if free
	rowCost []float64 // C_i,rowsol[i]
	tol     float64   // reduced costs down to −tol count as 0

	// Shortest path search.
	dist     []float64 // dist[j]: label of target j, valid when seen[j] == stamp
	predCol  []int32   // predCol[j]: the source that last lowered target j's label
	predCost []float64 // predCost[j]: C between predCol[j] and j
	seen     []uint32
	stamp    uint32
	settled  []int32 // the targets settled in this search
	queue    targetHeap

	// Sources whose target or potential changed since the last pricing.
	moved   []bool
	toPrice []int32

	phases Phases
}

// candidates is the number of nearest targets of each source in the sparse
// graphs of the exact solvers that search k-d trees, and the most arcs a
// pricing round adds per source: on uniform point clouds a pricing round
// or two then finds all the arcs the optimum needs.
const candidates = 24

// denseCandidates is the number of nearest targets of each source where the
// candidate arcs come from passes over rows of costs: fewer arcs make the
// first basis, the pivots' searches and LAPJV's scans cheaper, and outweigh
// the arcs pricing adds. In d = 5 at 1000 × 1000, 1000 × 1500 and
// 1000 × 1001 points the solves took 24, 53 and 39 ms of CPU time with 16,
// against 30, 69 and 52 ms with 24 (one core, medians of 9, 2026-12-07;
// neighbours then taken each way). With the sources' side only, 16 stayed
// best against 12 and 24 for the network simplex; 24 was 3% faster for
// LAPJV at 1000 × 1000.
const denseCandidates = 16

// newAssignment builds the candidate graph, plus the arcs (i, i) so that it
// holds a perfect matching.
func newAssignment(c *costMatrix) *assignment {
	n := c.n
	start := time.Now()
	arcs := candidateArcs(c, c.candidateCount())
	for i, as := range arcs {
		if !slices.ContainsFunc(as, func(a arc) bool { return int(a.col) == i }) {
			arcs[i] = append(as, arc{col: int32(i), cost: c.at(i, i)})
		}
	}
	return &assignment{
		c: c, n: n, arcs: arcs, tol: pricingTolerance * c.bound(),
		v:        make([]float64, n),
		rowsol:   make([]int32, n),
		colsol:   make([]int32, n),
		rowCost:  make([]float64, n),
		dist:     make([]float64, n),
		predCol:  make([]int32, n),
		predCost: make([]float64, n),
		seen:     make([]uint32, n),
		queue:    targetHeap{pos: make([]int32, n)},
		moved:    make([]bool, n),
		phases:   Phases{Candidates: time.Since(start)},
	}
}

// solve runs the initialisation, assigns the free sources, and prices and
// reassigns until no pair violates the duals. It returns
// U_i = min_j (C_ij − v_j) over all targets.
func (a *assignment) solve() []float64 {
	ph := &a.phases
	start := time.Now()
	free := a.initialise()
	u := make([]float64, a.n)
	for pass := 0; ; pass++ {
		for _, f := range free {
			a.augment(f)
		}
		ph.Steps += len(free)
		start = since(&ph.Solve, start)
		ph.Passes++
		var rows []int32 // all, the first time
		if pass > 0 {
			rows = slices.Clone(a.toPrice)
		}
		for _, i := range a.toPrice {
			a.moved[i] = false
		}
		a.toPrice = a.toPrice[:0]
		free = a.price(rows, u)
		if start = since(&ph.Pricing, start); len(free) == 0 {
			for _, as := range a.arcs {
				ph.Arcs += len(as)
			}
			return u
		}
	}
}

// initialise runs LAPJV's initialisation and returns the sources it leaves
// free.
func (a *assignment) initialise() []int32 {
	n, v, rowsol, colsol := a.n, a.v, a.rowsol, a.colsol
	imin := make([]int32, n)
	for j := range v {
		v[j] = math.Inf(1)
		colsol[j], rowsol[j] = -1, -1
	}

	// Column reduction: v_j = min_i C_ij; a source that is the minimum of
	// several columns takes the one with the highest index (the original
	// scans the columns in reverse order).
	for i, as := range a.arcs {
		for _, e := range as {
			if e.cost < v[e.col] {
				v[e.col], imin[e.col] = e.cost, int32(i)
			}
		}
	}
	matches := make([]int32, n)
	for j := n - 1; j >= 0; j-- {
		i := imin[j]
		matches[i]++
		if matches[i] == 1 {
			rowsol[i], colsol[j] = int32(j), i
		}
	}

	// Reduction transfer: a source matched once moves its slack to its
	// target, v_j1 −= min_{j ≠ j1} (C_ij − v_j), so that its second best
	// target ties with it.
	free := make([]int32, 0, n)
	for i := 0; i < n; i++ {
		switch matches[i] {
		case 0:
			free = append(free, int32(i))
		case 1:
			j1 := rowsol[i]
			slack := math.Inf(1)
			for _, e := range a.arcs[i] {
				if e.col != j1 {
					slack = min(slack, e.cost-v[e.col])
				}
			}
			v[j1] -= slack
		}
	}

	// Augmenting row reduction: a free source takes its best target j1 and
	// lowers v_j1 until its second best target ties; the source it evicts
	// becomes free, and is processed again at once when v_j1 really dropped
	// (an auction step). Each pass does at most 8n steps; what is left free
	// goes to the augmentation phase, which is exact whatever ARR leaves.
	for pass := 0; pass < 2 && len(free) > 0; pass++ {
		todo := free
		free = make([]int32, 0, len(todo))
		for k, steps := 0, 0; k < len(todo); steps++ {
			i := todo[k]
			k++
			j1, j2, umin, usubmin := bestTwo(a.arcs[i], v)
			i0 := colsol[j1]
			lowered := v[j1] - (usubmin - umin)
			dropped := lowered < v[j1] // false on ties and when rounding eats the step
			if dropped {
				v[j1] = lowered
			} else if i0 >= 0 {
				j1 = j2
				i0 = colsol[j2]
			}
			rowsol[i], colsol[j1] = j1, i
			if i0 < 0 {
				continue
			}
			rowsol[i0] = -1
			if dropped && steps < 8*n {
				k--
				todo[k] = i0
			} else {
				free = append(free, i0)
			}
		}
	}
	for i, j := range rowsol {
		if j >= 0 {
			a.rowCost[i] = a.c.at(i, int(j))
		}
	}
	return free
}

// bestTwo returns the targets with the least and second least reduced cost
// C_ij − v_j among the arcs (at least two), and those costs.
func bestTwo(arcs []arc, v []float64) (j1, j2 int32, umin, usubmin float64) {
	umin, usubmin = arcs[0].cost-v[arcs[0].col], math.Inf(1)
	j1 = arcs[0].col
	for _, e := range arcs[1:] {
		h := e.cost - v[e.col]
		if h < usubmin {
			if h >= umin {
				usubmin, j2 = h, e.col
			} else {
				usubmin, umin, j2, j1 = umin, h, j1, e.col
			}
		}
	}
	return j1, j2, umin, usubmin
}

// augment assigns the free source f along a shortest augmenting path, in
// reduced costs C_ij − u_i − v_j, to a free target: arcs i → j are the
// candidate arcs, j → i the assignments (reduced cost 0). Dijkstra's
// algorithm with a binary heap over the targets. It then lowers v on the
// targets settled before the path's length mu (v_j += dist_j − mu, as
// LAPJV does), which keeps every reduced cost non-negative and makes the
// path tight, and flips the assignments along the path.
func (a *assignment) augment(f int32) {
	a.stamp++
	a.settled = a.settled[:0]
	a.queue.cols = a.queue.cols[:0]
	a.relax(f, 0)
	for {
		if len(a.queue.cols) == 0 {
			panic("ot: no augmenting path in the candidate graph")
		}
		j := a.queue.pop(a.dist)
		a.settled = append(a.settled, j)
		i := a.colsol[j]
		if i < 0 {
			mu := a.dist[j]
			for _, s := range a.settled {
				if a.dist[s] < mu {
					a.v[s] += a.dist[s] - mu
					a.markMoved(a.colsol[s])
				}
			}
			a.flip(f, j)
			return
		}
		// Source i, assigned to j, is at j's distance.
		a.relax(i, a.rowCost[i]-a.v[j]-a.dist[j])
	}
}

// relax labels the targets of source i's arcs, i being at the distance where
// its potential u_i is h + dist: dist_j = C_ij − v_j − h.
func (a *assignment) relax(i int32, h float64) {
	stamp, v, dist := a.stamp, a.v, a.dist
	for _, e := range a.arcs[i] {
		j := e.col
		d := e.cost - v[j] - h
		switch {
		case a.seen[j] != stamp:
			a.seen[j] = stamp
			dist[j], a.predCol[j], a.predCost[j] = d, i, e.cost
			a.queue.push(j, dist)
		case d < dist[j] && a.queue.pos[j] >= 0: // labelled, not settled
			dist[j], a.predCol[j], a.predCost[j] = d, i, e.cost
			a.queue.up(int(a.queue.pos[j]), dist)
		}
	}
}

// flip reassigns along the path from source f to the free target end.
func (a *assignment) flip(f, end int32) {
	for j := end; ; {
		i := a.predCol[j]
		next := a.rowsol[i]
		a.rowsol[i], a.colsol[j], a.rowCost[i] = j, i, a.predCost[j]
		a.markMoved(i)
		if i == f {
			return
		}
		j = next
	}
}

// rowPotential returns u_i = min over the arcs of source i of C_ij − v_j.
func (a *assignment) rowPotential(i int) float64 {
	u := math.Inf(1)
	for _, e := range a.arcs[i] {
		u = min(u, e.cost-a.v[e.col])
	}
	return u
}

// markMoved notes that source i's target or potential changed.
func (a *assignment) markMoved(i int32) {
	if !a.moved[i] {
		a.moved[i] = true
		a.toPrice = append(a.toPrice, i)
	}
}

// price checks the pairs of the listed sources (all when rows is nil)
// against the duals (see priceRows), writing U_i = min_j (C_ij − v_j) into
// u. Each source with pairs below u_i (its minimum over its arcs) by more
// than the rounding tolerance gets those pairs as arcs and is freed, to be
// assigned again; it returns those sources.
//
// The sources left out since the last pass neither moved nor got a target
// whose potential moved, so u_i is unchanged, and potentials only fall, so
// their pairs C_ij − v_j only rose: they still hold no violation, and their
// old U_i still satisfies U_i + v_j ≤ C_ij, within the tolerance of u_i.
func (a *assignment) price(rows []int32, u []float64) (freed []int32) {
	limit := make([]float64, a.n)
	for i := range limit {
		limit[i] = a.rowPotential(i) - a.tol
	}
	add := priceRows(a.c, a.v, limit, rows, u)
	for i, as := range add {
		if len(as) > 0 {
			a.arcs[i] = append(a.arcs[i], as...)
			a.colsol[a.rowsol[i]], a.rowsol[i] = -1, -1
			freed = append(freed, int32(i))
		}
	}
	return freed
}

// plan returns the permutation plan, each pair of weight 1/n.
func (a *assignment) plan(u []float64) *Plan {
	pairs := make([]Pair, a.n)
	for i, j := range a.rowsol {
		pairs[i] = Pair{I: i, J: int(j), W: 1 / float64(a.n)}
	}
	p := newPlan(a.c, pairs, u, a.v)
	p.Phases = &a.phases
	p.Phases.Costs = a.c.stored
	return p
}

// targetHeap is a binary min-heap of targets keyed by their labels, with
// each target's position (−1 once popped) for decrease-key.
type targetHeap struct {
	cols []int32
	pos  []int32
}

func (h *targetHeap) push(j int32, key []float64) {
	h.cols = append(h.cols, j)
	h.pos[j] = int32(len(h.cols) - 1)
	h.up(len(h.cols)-1, key)
}

// up restores the heap after the key at position a decreased.
func (h *targetHeap) up(a int, key []float64) {
	j := h.cols[a]
	for a > 0 {
		p := (a - 1) / 2
		if key[h.cols[p]] <= key[j] {
			break
		}
		h.cols[a] = h.cols[p]
		h.pos[h.cols[a]] = int32(a)
		a = p
	}
	h.cols[a] = j
	h.pos[j] = int32(a)
}

func (h *targetHeap) pop(key []float64) int32 {
	top := h.cols[0]
	h.pos[top] = -1
	last := h.cols[len(h.cols)-1]
	h.cols = h.cols[:len(h.cols)-1]
	if n := len(h.cols); n > 0 {
		a := 0
		for {
			b := 2*a + 1
			if b >= n {
				break
			}
			if b+1 < n && key[h.cols[b+1]] < key[h.cols[b]] {
				b++
			}
			if key[h.cols[b]] >= key[last] {
				break
			}
			h.cols[a] = h.cols[b]
			h.pos[h.cols[a]] = int32(a)
			a = b
		}
		h.cols[a] = last
		h.pos[last] = int32(a)
	}
	return top
}
