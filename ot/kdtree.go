package ot

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// kdTree is a k-d tree over one point cloud that answers, for a query point
// q, which points p_i have c(q, p_i) − w_i below a threshold, for the ground
// cost c and weights w set per search (the duals of the other side). It
// makes the exact solvers sparse for low-dimensional clouds: the candidate
// arcs (w = 0: the k nearest neighbours) and the pricing passes that prove
// the dual certificate on all n·m pairs (w = the target potentials v: every
// pair with C_ij − v_j < −u_i, and the c-transform min_j C_ij − v_j) visit
// only the leaves that could hold an answer, instead of all n·m costs.
//
// The bound: for a node whose bounding box lies at distance δ from q and
// whose points have weights up to W, every point in it has c(q, p) − w ≥
// c(δ) − W (c is increasing in the distance). For the squared Euclidean
// cost this is exactly the nearest-neighbour bound of the lifted points
// (p, √(K − w)) against (q, 0) in d + 1 dimensions; for the Euclidean cost
// it is the same bound on ‖q − p‖. The bound is lowered by a relative
// allowance for rounding (see prunes), so a pruned node never holds an
// answer, and every answer is recomputed with Cost.Between, so the results
// (minima, violations, neighbours) are the ones a full pass over the costs
// finds, up to the order of ties.
//
// The tree is built once per cloud (leaves of at most kdLeaf points, split
// at the median of the widest side of the box) and is read-only while
// searched, so searches run on GOMAXPROCS goroutines. Memory: the points in
// tree order (n·d floats), their indices, and 2d + 4 values per node.
type kdTree struct {
	d     int
	cost  Cost
	pts   []float64 // the points in tree order
	index []int32   // index[k]: the cloud's index of the point at position k
	nodes []kdNode
	box   []float64 // node b's box: lo at box[2bd:(2b+1)d], hi after it
}

type kdNode struct {
	lo, hi      int32 // the points at positions [lo, hi)
	left, right int32 // children, −1 for a leaf
}

// kdLeaf is the most points a leaf holds.
const kdLeaf = 12

// treeMaxDim is the largest dimension in which the exact solvers search
// with k-d trees; above it a tree visits most leaves anyway, and the passes
// over rows of costs are faster.
const treeMaxDim = 8

// treeMinPairs is the fewest pairs n·m on which the exact solvers search
// with k-d trees: below it the passes over rows of costs take milliseconds,
// and keeping them keeps the plans of small problems as they were. (A
// variable so that tests can send tiny problems through the trees.)
var treeMinPairs int64 = 4_000_000

// useTrees reports whether the exact solvers on c search with k-d trees:
// from treeMinPairs pairs in d ≤ treeMaxDim, and from treeMinPairs/40
// (10^5) in d ≤ 2, where a search reaches few leaves: at 1000 × 1001
// points in d = 2 the trees took the solve from 38 to 32 ms of CPU time,
// while in d = 5 they took it from 44 to 61 ms (one core, medians of 9,
// 2026-12-07).
func (c *costMatrix) useTrees() bool {
	pairs := int64(c.n) * int64(c.m)
	return c.d <= treeMaxDim && pairs >= treeMinPairs || c.d <= 2 && pairs >= treeMinPairs/40
}

// candidateCount is the number of nearest targets of each source in the
// first sparse graph of the exact solvers on c: candidates where k-d trees
// find them, denseCandidates where passes over rows of costs do.
func (c *costMatrix) candidateCount() int {
	if c.useTrees() {
		return candidates
	}
	return denseCandidates
}

// targetTree returns the (cached) k-d tree of c's targets.
func (c *costMatrix) targetTree() *kdTree {
	c.treeOnce.Do(func() { c.tree = newKDTree(c.y, c.d, c.cost) })
	return c.tree
}

func newKDTree(p []float64, d int, cost Cost) *kdTree {
	n := len(p) / d
	t := &kdTree{d: d, cost: cost, index: make([]int32, n)}
	for i := range t.index {
		t.index[i] = int32(i)
	}
	t.build(p, 0, n)
	t.pts = make([]float64, n*d)
	for k, i := range t.index {
		copy(t.pts[k*d:(k+1)*d], p[int(i)*d:(int(i)+1)*d])
	}
	return t
}

// build adds the node of positions [lo, hi) and those below it, and
// returns its number.
func (t *kdTree) build(p []float64, lo, hi int) int32 {
	d := t.d
	b := int32(len(t.nodes))
	t.nodes = append(t.nodes, kdNode{lo: int32(lo), hi: int32(hi), left: -1, right: -1})
	box := make([]float64, 2*d)
	for k := range d {
		box[k], box[d+k] = math.Inf(1), math.Inf(-1)
	}
	for _, i := range t.index[lo:hi] {
		for k, v := range p[int(i)*d : (int(i)+1)*d] {
			box[k], box[d+k] = min(box[k], v), max(box[d+k], v)
		}
	}
	t.box = append(t.box, box...)
	if hi-lo <= kdLeaf {
		return b
	}
	axis := 0
	for k := range d {
		if box[d+k]-box[k] > box[d+axis]-box[axis] {
			axis = k
		}
	}
	idx := t.index[lo:hi]
	slices.SortFunc(idx, func(a, c int32) int {
		return cmp.Or(cmp.Compare(p[int(a)*d+axis], p[int(c)*d+axis]), cmp.Compare(a, c))
	})
	mid := (lo + hi) / 2
	l := t.build(p, lo, mid)
	r := t.build(p, mid, hi)
	t.nodes[b].left, t.nodes[b].right = l, r
	return b
}

// nodeMax returns the largest weight per node, w indexed by the cloud's
// indices.
func (t *kdTree) nodeMax(w []float64) []float64 {
	out := make([]float64, len(t.nodes))
	// Children come after their parent: fill backwards.
	for b := len(t.nodes) - 1; b >= 0; b-- {
		nd := t.nodes[b]
		if nd.left < 0 {
			m := math.Inf(-1)
			for _, i := range t.index[nd.lo:nd.hi] {
				m = max(m, w[i])
			}
			out[b] = m
		} else {
			out[b] = max(out[nd.left], out[nd.right])
		}
	}
	return out
}

// lower returns a lower bound of c(q, p) − w over node b's points, w ≤ wmax:
// c at the box's distance, less wmax, less a rounding allowance.
func (t *kdTree) lower(q []float64, b int32, wmax float64) float64 {
	d := t.d
	lo, hi := t.box[2*int(b)*d:(2*int(b)+1)*d], t.box[(2*int(b)+1)*d:(2*int(b)+2)*d]
	var s float64
	for k, v := range q {
		if v < lo[k] {
			g := lo[k] - v
			s += g * g
		} else if v > hi[k] {
			g := v - hi[k]
			s += g * g
		}
	}
	if t.cost == Euclidean {
		s = math.Sqrt(s)
	}
	// Between sums the same squares in another order: relative error below
	// d·2⁻⁵², far below this allowance.
	return s - wmax - 1e-12*(s+math.Abs(wmax))
}

// search visits, for query q, every point p_i with c(q, p_i) − w_i that
// may lie below threshold() (asked again as the search goes on, so it may
// fall), nearest boxes first, calling visit(i, c(q, p_i)) on the points of
// each leaf reached. wmax comes from nodeMax (nil: all weights 0).
func (t *kdTree) search(q []float64, wmax []float64, threshold func() float64, visit func(i int32, cost float64), stack []int32) []int32 {
	d := t.d
	wm := func(b int32) float64 {
		if wmax == nil {
			return 0
		}
		return wmax[b]
	}
	stack = append(stack[:0], 0)
	for len(stack) > 0 {
		b := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nd := t.nodes[b]
		if t.lower(q, b, wm(b)) >= threshold() {
			continue
		}
		if nd.left < 0 {
			for k := nd.lo; k < nd.hi; k++ {
				visit(t.index[k], t.cost.Between(q, t.pts[int(k)*d:(int(k)+1)*d]))
			}
			continue
		}
		// Push the farther child first, so the nearer is searched first.
		ll, lr := t.lower(q, nd.left, wm(nd.left)), t.lower(q, nd.right, wm(nd.right))
		if ll <= lr {
			stack = append(stack, nd.right, nd.left)
		} else {
			stack = append(stack, nd.left, nd.right)
		}
	}
	return stack
}

// nearestByTree returns the arcs from each point of the cloud x (n points)
// to its k nearest points of the tree's cloud, as nearestPerRow does.
func nearestByTree(t *kdTree, x []float64, k int) [][]arc {
	d := t.d
	n := len(x) / d
	arcs := make([][]arc, n)
	parallelRows(n, func(_, lo, hi int) {
		h := newNearest(k)
		var stack []int32
		threshold := func() float64 { return h.bound }
		visit := func(j int32, c float64) { h.offer(c, j) }
		for i := lo; i < hi; i++ {
			h.reset()
			stack = t.search(x[i*d:(i+1)*d], nil, threshold, visit, stack)
			arcs[i] = h.arcs()
		}
	})
	return arcs
}

// priceByTree is priceRows searching the target tree: for each listed
// source i, u[i] = min_j (C_ij − v_j), and the most violated pairs below
// limit[i] (up to candidates of them) in add[i].
func priceByTree(c *costMatrix, v, limit []float64, rows []int32, u []float64) (add [][]arc) {
	t := c.targetTree()
	vmax := t.nodeMax(v)
	add = make([][]arc, c.n)
	count := len(rows)
	if rows == nil {
		count = c.n
	}
	d := c.d
	parallelRows(count, func(_, lo, hi int) {
		worst := newNearest(candidates)
		var stack []int32
		var best, li float64
		threshold := func() float64 { return max(best, li) }
		visit := func(j int32, cij float64) {
			h := cij - v[j]
			if h < best {
				best = h
			}
			if h < li {
				worst.offer(h, j)
			}
		}
		for k := lo; k < hi; k++ {
			i := k
			if rows != nil {
				i = int(rows[k])
			}
			li, best = limit[i], math.Inf(1)
			worst.reset()
			stack = t.search(c.x[i*d:(i+1)*d], vmax, threshold, visit, stack)
			worst.cut()
			u[i] = best
			for _, j := range worst.idx {
				add[i] = append(add[i], arc{col: j, cost: c.at(i, int(j))})
			}
		}
	})
	return add
}

// treeCache holds a costMatrix's target tree, built on first use.
type treeCache struct {
	treeOnce sync.Once
	tree     *kdTree
}
