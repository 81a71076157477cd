package ot

import (
	"math"
	"slices"
	"time"
)

// networkSimplex is the exact solver for the transportation problem with
// integer supplies s_i and demands t_j (equal totals):
//
//	min Σ_ij x_ij C_ij  subject to  Σ_j x_ij = s_i,  Σ_i x_ij = t_j,  x ≥ 0.
//
// It runs the primal network simplex method (Ahuja, Magnanti & Orlin,
// Network Flows, 1993, ch. 11) with block-search pricing (as in LEMON and
// POT's ot.emd) on a sparse graph of candidate arcs, the pairs of near
// neighbours (see candidateArcs); pricing then checks every pair of the full
// problem against the potentials and adds the arcs that violate them, and
// pivoting resumes from the same basis, until none does.
//
// Degeneracy: the supplies and demands are scaled by K = 4n + 1 and
// perturbed (every supply + 1, the last demand + n), which makes every basic
// flow non-zero (Charnes' perturbation), so that every pivot lowers the cost
// and the method cannot cycle. Every basic flow of the perturbed problem is
// K times the original one plus at most 2n < K/2 in absolute value, so
// rounding x/K recovers the original basic solution, which is optimal: the
// potentials do not depend on the supplies.
//
// The spanning tree is kept with parent pointers, depths and child lists;
// a pivot costs the length of its cycle plus the size of the subtree it
// moves. The first basis comes from the least-cost rule on the candidate
// arcs, completed by the north-west corner rule.
//
// Nodes 0..n−1 are the sources, n..n+m−1 the targets. Every arc runs from a
// source to a target, so the tree arc above node u points up (u → parent)
// exactly when u is a source. Potentials pi make tree arcs tight,
// C_ij + pi_i − pi_(n+j) = 0; the duals are u_i = −pi_i, v_j = pi_(n+j).
//
// Memory: O((n + m)·k) for the arcs and O(n + m) for the tree.
type networkSimplex struct {
	c     *costMatrix
	n, m  int
	scale int64   // K
	tol   float64 // reduced costs down to −tol count as 0

	src, dst []int32 // arc e runs from source node src[e] to target node dst[e]
	cost     []float64
	flow     []int64 // perturbed, scaled flow (during the pivots, see treeFlow)
	inTree   []bool
	nextArc  int // where block pricing resumes

	phases Phases

	parent, pred, depth []int32 // pred[u]: the arc between u and parent[u]
	// treeFlow[u] is the flow on pred[u]. The pivots keep the tree's flows
	// here, by node, and leave flow as it was until solve writes them back:
	// the cycle walks then read an array of n + m entries instead of
	// scattered entries of the arcs' (non-tree arcs carry no flow).
	treeFlow                     []int64
	firstChild, nextSib, prevSib []int32
	pi                           []float64
	stack, pathA, pathB          []int32
}

// newNetworkSimplex builds the candidate graph and the first basis for the
// supplies s (n, positive) and demands t (m, positive) of equal totals.
func newNetworkSimplex(c *costMatrix, s, t []int64) *networkSimplex {
	n, m := c.n, c.m
	start := time.Now()
	ns := &networkSimplex{c: c, n: n, m: m, scale: int64(4*n + 1), tol: pricingTolerance * c.bound()}
	k := c.candidateCount()
	arcs := candidateArcs(c, k)
	start = since(&ns.phases.Candidates, start)
	// Room for the candidate arcs, the north-west corner's and a pricing
	// round's.
	room := 2*k*n + n + m
	ns.src, ns.dst, ns.cost = make([]int32, 0, room), make([]int32, 0, room), make([]float64, 0, room)
	ns.flow, ns.inTree = make([]int64, 0, room), make([]bool, 0, room)
	for i, as := range arcs {
		ns.addArcs(i, as)
	}
	nodes := n + m
	ns.parent, ns.pred, ns.depth = make([]int32, nodes), make([]int32, nodes), make([]int32, nodes)
	ns.treeFlow = make([]int64, nodes)
	ns.firstChild, ns.nextSib, ns.prevSib = make([]int32, nodes), make([]int32, nodes), make([]int32, nodes)
	ns.pi = make([]float64, nodes)
	ns.initialBasis(s, t)
	since(&ns.phases.Solve, start)
	return ns
}

// addArcs appends arcs from source i, outside the tree with no flow.
func (ns *networkSimplex) addArcs(i int, as []arc) {
	for _, a := range as {
		ns.src = append(ns.src, int32(i))
		ns.dst = append(ns.dst, int32(ns.n)+a.col)
		ns.cost = append(ns.cost, a.cost)
		ns.flow = append(ns.flow, 0)
		ns.inTree = append(ns.inTree, false)
	}
}

// initialBasis finds a basic feasible flow of the perturbed problem by the
// least-cost rule (allocate min(supply left, demand left) on the cheapest
// arc whose source and target are both open, then close the one that ran
// out; n + m − 1 allocations form a spanning tree), and, when the candidate
// arcs run out, the north-west corner rule on what stays open. It then
// builds the tree rooted at source 0.
func (ns *networkSimplex) initialBasis(s, t []int64) {
	n, m, k := ns.n, ns.m, ns.scale
	supply, demand := make([]int64, n), make([]int64, m)
	for i := range supply {
		supply[i] = k*s[i] + 1
	}
	for j := range demand {
		demand[j] = k * t[j]
	}
	demand[m-1] += int64(n)
	rowOut, colOut := make([]bool, n), make([]bool, m)
	open := n + m
	allocate := func(e int, i, j int) {
		q := min(supply[i], demand[j])
		ns.flow[e], ns.inTree[e] = q, true
		supply[i] -= q
		demand[j] -= q
		switch {
		case open == 2:
			rowOut[i], colOut[j], open = true, true, 0
		case supply[i] == 0:
			rowOut[i], open = true, open-1
		default:
			colOut[j], open = true, open-1
		}
	}
	for _, e := range byCost(ns.cost) {
		if open == 0 {
			break
		}
		if i, j := int(ns.src[e]), int(ns.dst[e])-n; !rowOut[i] && !colOut[j] {
			allocate(int(e), i, j)
		}
	}
	ns.leastCostOnOpen(rowOut, colOut, allocate)
	for i, j := 0, 0; open > 0; {
		for rowOut[i] {
			i++
		}
		for colOut[j] {
			j++
		}
		ns.addArcs(i, []arc{{col: int32(j), cost: ns.c.at(i, j)}})
		allocate(len(ns.cost)-1, i, j)
	}
	ns.buildTree()
}

// leastCostOnOpen continues the least-cost rule on all pairs of the sources
// and targets still open (those the candidate arcs left), as long as there
// are at most maxOpenPairs of them; the north-west corner rule then has
// nothing left to do. Its arcs are cheap where the corner's are arbitrary:
// at 1000 × 1001 points in d = 5 about 300 of the 2001 points are open
// there, and the pivots fell from 11486 to 10288 (3000 × 3001: from 53857
// to 46877), the CPU time by 1% at 10^3 points and 4–6% at 3·10^3.
func (ns *networkSimplex) leastCostOnOpen(rowOut, colOut []bool, allocate func(e, i, j int)) {
	var rows, cols []int
	for i, out := range rowOut {
		if !out {
			rows = append(rows, i)
		}
	}
	for j, out := range colOut {
		if !out {
			cols = append(cols, j)
		}
	}
	if len(rows) == 0 || len(rows)*len(cols) > maxOpenPairs {
		return
	}
	costs := make([]float64, len(rows)*len(cols))
	for a, i := range rows {
		for b, j := range cols {
			costs[a*len(cols)+b] = ns.c.at(i, j)
		}
	}
	for _, p := range byCost(costs) {
		i, j := rows[int(p)/len(cols)], cols[int(p)%len(cols)]
		if !rowOut[i] && !colOut[j] {
			ns.addArcs(i, []arc{{col: int32(j), cost: costs[p]}})
			allocate(len(ns.cost)-1, i, j)
		}
	}
}

// maxOpenPairs bounds the pairs leastCostOnOpen sorts (24 MB of work arrays).
const maxOpenPairs = 1 << 20

// buildTree sets parent, pred, depth and the child lists from the tree
// arcs, rooted at source 0, and the potentials.
func (ns *networkSimplex) buildTree() {
	nodes := ns.n + ns.m
	// Tree arcs by node, in compressed sparse rows.
	start := make([]int32, nodes+1)
	for e, in := range ns.inTree {
		if in {
			start[ns.src[e]+1]++
			start[ns.dst[e]+1]++
		}
	}
	for u := range nodes {
		start[u+1] += start[u]
	}
	adj := make([]int32, start[nodes])
	fill := slices.Clone(start[:nodes])
	for e, in := range ns.inTree {
		if in {
			for _, u := range []int32{ns.src[e], ns.dst[e]} {
				adj[fill[u]] = int32(e)
				fill[u]++
			}
		}
	}
	for u := range nodes {
		ns.parent[u], ns.firstChild[u], ns.nextSib[u], ns.prevSib[u] = -1, -1, -1, -1
	}
	ns.pred[0], ns.depth[0] = -1, 0
	queue := []int32{0}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, e := range adj[start[p]:start[p+1]] {
			if e == ns.pred[p] {
				continue
			}
			u := ns.src[e] + ns.dst[e] - p // the other end
			ns.parent[u], ns.pred[u], ns.depth[u] = p, e, ns.depth[p]+1
			ns.treeFlow[u] = ns.flow[e]
			ns.addChild(p, u)
			queue = append(queue, u)
		}
	}
	ns.setPotentials()
}

// setPotentials recomputes the potentials from the tree, pi = 0 at the
// root, so that rounding does not build up over the pivots.
func (ns *networkSimplex) setPotentials() {
	ns.pi[0] = 0
	ns.walkSubtree(0, func(u int32) {
		if p := ns.parent[u]; p >= 0 {
			ns.pi[u] = ns.pi[p] + ns.arcSign(u)*ns.cost[ns.pred[u]]
		}
	})
}

// arcSign is +1 when the tree arc above u points down (parent → u, u a
// target) and −1 when it points up (u a source): pi_u = pi_parent ± C.
func (ns *networkSimplex) arcSign(u int32) float64 {
	if int(u) < ns.n {
		return -1
	}
	return 1
}

// walkSubtree calls visit on u and every node below it, parents first.
func (ns *networkSimplex) walkSubtree(u int32, visit func(int32)) {
	stack := append(ns.stack[:0], u)
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		visit(u)
		for ch := ns.firstChild[u]; ch >= 0; ch = ns.nextSib[ch] {
			stack = append(stack, ch)
		}
	}
	ns.stack = stack
}

func (ns *networkSimplex) addChild(p, u int32) {
	first := ns.firstChild[p]
	ns.nextSib[u], ns.prevSib[u] = first, -1
	if first >= 0 {
		ns.prevSib[first] = u
	}
	ns.firstChild[p] = u
}

func (ns *networkSimplex) removeChild(p, u int32) {
	next, prev := ns.nextSib[u], ns.prevSib[u]
	if prev >= 0 {
		ns.nextSib[prev] = next
	} else {
		ns.firstChild[p] = next
	}
	if next >= 0 {
		ns.prevSib[next] = prev
	}
}

// entering returns an arc with a negative reduced cost C + pi_src − pi_dst
// (below −tolerance), or −1 if there is none: block search, the most
// negative of the first block of about √arcs/2 arcs that holds one,
// resuming where the last search stopped. Half LEMON's √arcs: more pivots,
// each found sooner; on one core 1000 × 1500 points in d = 2 took 45 ms
// instead of 50, 3000 × 4500 in d = 5 440 ms instead of 480 (2026-12-07).
func (ns *networkSimplex) entering() int {
	arcs := len(ns.cost)
	block := max(10, int(math.Sqrt(float64(arcs))/2))
	best, bestArc := -ns.tol, -1
	src, dst, cost, pi := ns.src[:arcs], ns.dst[:arcs], ns.cost[:arcs], ns.pi
	e := ns.nextArc
	for seen, inBlock := 0, 0; seen < arcs; seen++ {
		// Tree arcs are not skipped: their reduced costs are rounding
		// errors of the potentials' sums, far inside the tolerance.
		if rc := cost[e] + pi[src[e]] - pi[dst[e]]; rc < best {
			best, bestArc = rc, e
		}
		if e++; e == arcs {
			e = 0
		}
		if inBlock++; inBlock == block {
			if bestArc >= 0 {
				break
			}
			inBlock = 0
		}
	}
	ns.nextArc = e
	return bestArc
}

// pivot brings arc e into the tree: it pushes flow around the cycle that e
// closes, drops the tree arc whose flow falls to 0 first (the flows are
// non-degenerate, so that one is unique and the push is positive), hangs
// the subtree cut off by it from e, and shifts its potentials so that e is
// tight.
func (ns *networkSimplex) pivot(e int) {
	n := int32(ns.n)
	parent, pred, flow := ns.parent, ns.pred, ns.treeFlow
	a, b := ns.src[e], ns.dst[e]
	// The cycle runs a → b along e, up from b to join, down from join to a;
	// flow falls on the tree arcs that point against it: the arcs above
	// sources on a's side and above targets on b's side. One walk up the
	// parent links lists both sides' nodes; the passes that find and push
	// the flow then read the lists, not the links again.
	pathA, pathB := ns.paths(a, b)
	delta := int64(math.MaxInt64)
	out, onA := int32(-1), true
	for _, u := range pathA {
		if f := flow[u]; u < n && f < delta {
			delta, out, onA = f, u, true
		}
	}
	for _, u := range pathB {
		if f := flow[u]; u >= n && f < delta {
			delta, out, onA = f, u, false
		}
	}
	for _, u := range pathA {
		if u < n {
			flow[u] -= delta
		} else {
			flow[u] += delta
		}
	}
	for _, u := range pathB {
		if u < n {
			flow[u] += delta
		} else {
			flow[u] -= delta
		}
	}
	ns.inTree[pred[out]], ns.inTree[e] = false, true

	// The subtree below out holds in (a or b); re-root it at in, reversing
	// the parent links from in up to out, and hang it from the other end.
	// Each node on the way takes the arc, and the flow, of the one below.
	rc := ns.cost[e] + ns.pi[a] - ns.pi[b]
	in, newParent, shift := a, b, -rc
	if !onA {
		in, newParent, shift = b, a, rc
	}
	newPred, newFlow := int32(e), delta
	for u := in; ; {
		oldParent, oldPred, oldFlow := parent[u], pred[u], flow[u]
		ns.removeChild(oldParent, u)
		parent[u], pred[u], flow[u] = newParent, newPred, newFlow
		ns.addChild(newParent, u)
		if u == out {
			break
		}
		newParent, newPred, newFlow, u = u, oldPred, oldFlow, oldParent
	}
	ns.shiftSubtree(in, shift)
}

// shiftSubtree adds shift to the potentials of u and of every node below
// it, and renumbers their depths below u's parent. Each node's depth is set
// from its parent's as the parent's children are listed, so the walk reads
// no parent links.
func (ns *networkSimplex) shiftSubtree(u int32, shift float64) {
	depth, pi, firstChild, nextSib := ns.depth, ns.pi, ns.firstChild, ns.nextSib
	depth[u] = depth[ns.parent[u]] + 1
	stack := append(ns.stack[:0], u)
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pi[u] += shift
		below := depth[u] + 1
		for ch := firstChild[u]; ch >= 0; ch = nextSib[ch] {
			depth[ch] = below
			stack = append(stack, ch)
		}
	}
	ns.stack = stack
}

// paths returns the nodes from a and from b up to their deepest common
// ancestor, that ancestor left out, in ns.pathA and ns.pathB.
func (ns *networkSimplex) paths(a, b int32) (pathA, pathB []int32) {
	depth, parent := ns.depth, ns.parent
	pathA, pathB = ns.pathA[:0], ns.pathB[:0]
	for depth[a] > depth[b] {
		pathA = append(pathA, a)
		a = parent[a]
	}
	for depth[b] > depth[a] {
		pathB = append(pathB, b)
		b = parent[b]
	}
	for a != b {
		pathA, pathB = append(pathA, a), append(pathB, b)
		a, b = parent[a], parent[b]
	}
	ns.pathA, ns.pathB = pathA, pathB
	return pathA, pathB
}

// solve pivots until no candidate arc has a negative reduced cost, prices
// the full problem, and repeats while pricing adds arcs. It returns the
// duals U_i = min_j (C_ij − V_j) and V_j = pi_(n+j).
//
// Where pricing passes over rows of costs, each pass also bounds, for every
// source, C_ij − V_j over the pairs outside the graph; a later pass prices
// only the sources whose bound the potentials' moves since may have broken
// (see shielded). At 1000 × 1001 points in d = 5 that skips the second
// full pass, the one that only confirms the optimum.
func (ns *networkSimplex) solve() (u, v []float64) {
	u, limit := make([]float64, ns.n), make([]float64, ns.n)
	var guard, pricedV []float64
	if !ns.c.useTrees() {
		guard = make([]float64, ns.n)
	}
	ph := &ns.phases
	defer func() { ph.Arcs = len(ns.cost) }()
	defer ns.writeFlows()
	start := time.Now()
	for {
		for e := ns.entering(); e >= 0; e = ns.entering() {
			ns.pivot(e)
			ph.Steps++
		}
		ns.setPotentials()
		if e := ns.entering(); e >= 0 {
			ns.pivot(e)
			ph.Steps++
			continue
		}
		start = since(&ph.Solve, start)
		ph.Passes++
		v = ns.pi[ns.n:]
		for i := range limit {
			limit[i] = -ns.pi[i] - ns.tol
		}
		var add [][]arc
		switch {
		case guard == nil:
			add = priceRows(ns.c, v, limit, nil, u)
		case pricedV == nil:
			add = priceRowsShielded(ns.c, v, limit, nil, u, ns.columnsBySource(), guard)
		default:
			rows := ns.shielded(guard, pricedV, v, u)
			if len(rows) == 0 {
				since(&ph.Pricing, start)
				return u, slices.Clone(v)
			}
			add = priceRowsShielded(ns.c, v, limit, rows, u, ns.columnsBySource(), guard)
		}
		pricedV = slices.Clone(v)
		added := false
		for i, as := range add {
			ns.addArcs(i, as)
			added = added || len(as) > 0
		}
		start = since(&ph.Pricing, start)
		if !added {
			return u, pricedV
		}
	}
}

// writeFlows sets flow from the tree's, treeFlow: the tree arcs' flows, and
// 0 on every other arc.
func (ns *networkSimplex) writeFlows() {
	clear(ns.flow)
	for u, e := range ns.pred {
		if e >= 0 {
			ns.flow[e] = ns.treeFlow[u]
		}
	}
}

// shielded returns the sources the next pricing pass must check, given the
// bounds guard[i] ≤ C_ij − V⁰_j over the pairs outside the graph from the
// pass at potentials V⁰ = pricedV. Since then no V_j rose by more than
// rise = max_j (V_j − V⁰_j), so C_ij − V_j ≥ guard[i] − rise there. Where
// that clears the least C_ij − V_j over source i's arcs by the tolerance,
// the arcs (which the pivots left with no negative reduced cost) hold the
// row's minimum: no pair of the row violates the potentials, and U_i is
// that minimum. Those sources get U_i and the lowered bound here; the rest
// are returned for a pass.
func (ns *networkSimplex) shielded(guard, pricedV, v, u []float64) (rows []int32) {
	rise := math.Inf(-1)
	for j, vj := range v {
		rise = max(rise, vj-pricedV[j])
	}
	for i := range u {
		u[i] = math.Inf(1)
	}
	for e, c := range ns.cost {
		i := ns.src[e]
		u[i] = min(u[i], c-v[ns.dst[e]-int32(ns.n)])
	}
	for i := range u {
		if guard[i] -= rise; guard[i] < u[i]+ns.tol {
			rows = append(rows, int32(i))
		}
	}
	return rows
}

// columnsBySource lists the targets (0..m−1) of each source's arcs.
func (ns *networkSimplex) columnsBySource() [][]int32 {
	count := make([]int32, ns.n+1)
	for _, i := range ns.src {
		count[i+1]++
	}
	for i := range ns.n {
		count[i+1] += count[i]
	}
	all := make([]int32, len(ns.src))
	fill := slices.Clone(count[:ns.n])
	for e, i := range ns.src {
		all[fill[i]] = ns.dst[e] - int32(ns.n)
		fill[i]++
	}
	cols := make([][]int32, ns.n)
	for i := range cols {
		cols[i] = all[count[i]:count[i+1]]
	}
	return cols
}

// plan returns the optimal plan, one unit of the original flow weighing
// unit.
func (ns *networkSimplex) plan(unit float64, u, v []float64) *Plan {
	var pairs []Pair
	for e, f := range ns.flow {
		if x := (f + ns.scale/2) / ns.scale; x > 0 {
			pairs = append(pairs, Pair{I: int(ns.src[e]), J: int(ns.dst[e]) - ns.n, W: float64(x) * unit})
		}
	}
	p := newPlan(ns.c, pairs, u, v)
	p.Phases = &ns.phases
	p.Phases.Costs = ns.c.stored
	return p
}

// byCost returns the arc numbers ordered by cost, ties by number: a least
// significant digit radix sort of the costs' bits (non-negative floats
// order as their bit patterns), 11 bits a pass, stable, so that ties keep
// the numbers' order. It is several times faster than a comparison sort on
// the tens of thousands of candidate arcs.
func byCost(cost []float64) []int32 {
	const bits = 11
	if len(cost) == 0 {
		return nil
	}
	keys, order := make([]uint64, len(cost)), make([]int32, len(cost))
	for e, c := range cost {
		keys[e], order[e] = math.Float64bits(c), int32(e)
	}
	spareKeys, spareOrder := make([]uint64, len(cost)), make([]int32, len(cost))
	var count [1 << bits]int
	for shift := 0; shift < 64; shift += bits {
		clear(count[:])
		for _, k := range keys {
			count[(k>>shift)&(1<<bits-1)]++
		}
		if count[(keys[0]>>shift)&(1<<bits-1)] == len(keys) {
			continue // one digit everywhere: the pass would not move anything
		}
		at := 0
		for b, c := range count {
			count[b], at = at, at+c
		}
		for l, k := range keys {
			b := (k >> shift) & (1<<bits - 1)
			spareKeys[count[b]], spareOrder[count[b]] = k, order[l]
			count[b]++
		}
		keys, spareKeys, order, spareOrder = spareKeys, keys, spareOrder, order
	}
	return order
}
