// Package ot solves discrete optimal transport between point clouds: exact
// plans (Jonker–Volgenant assignment for equal sizes, network simplex for the
// transportation problem otherwise), entropic plans (log-domain Sinkhorn),
// block-wise plans, and the W1/W2 distances.
//
// A point cloud is a flat row-major []float64 of n×d values with a separate
// d: point i is x[i*d : (i+1)*d]. Both clouds carry uniform weights 1/n and
// 1/m.
package ot

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// Cost is the ground cost c(x, y) between a source and a target point.
type Cost int

const (
	// SqEuclidean is ‖x − y‖², the cost of couplings and of W2.
	SqEuclidean Cost = iota
	// Euclidean is ‖x − y‖, the cost of W1.
	Euclidean
)

// String names the cost.
func (c Cost) String() string {
	switch c {
	case SqEuclidean:
		return "sqeuclidean"
	case Euclidean:
		return "euclidean"
	}
	return fmt.Sprintf("Cost(%d)", int(c))
}

// Between returns c(x, y) for two points of the same dimension. The squares
// are summed two coordinates at a time, in the order the solvers' row
// passes use, so that every part of a solver sees the same costs.
func (c Cost) Between(x, y []float64) float64 {
	var s float64
	k := 0
	if len(x)%2 == 1 {
		t := x[0] - y[0]
		s, k = t*t, 1
	}
	for ; k+1 < len(x); k += 2 {
		ta, tb := x[k]-y[k], x[k+1]-y[k+1]
		s += ta*ta + tb*tb
	}
	if c == Euclidean {
		return math.Sqrt(s)
	}
	return s
}

// DenseBudget is the largest cost matrix, in bytes, that Sinkhorn stores:
// n·m·8 bytes up to it (1 GiB, 11585 × 11585 points); beyond it, it
// recomputes the rows of costs in every pass. The exact solvers never store
// the matrix.
const DenseBudget = 1 << 30

// costMatrix hands out the rows of C_ij = c(x_i, y_j): slices of a stored
// dense matrix, or rows recomputed into the caller's buffer. It is safe for
// concurrent use with one buffer per goroutine.
type costMatrix struct {
	n, m, d int
	x, y    []float64
	yT      []float64 // y transposed, d×m: coordinate k of all targets in a row
	cost    Cost
	dense   []float64     // n×m row-major, or nil
	stored  time.Duration // the time storing dense took
	treeCache
}

// newCostMatrix stores the costs when n·m·8 ≤ budget bytes.
func newCostMatrix(x, y []float64, d int, cost Cost, budget int64) *costMatrix {
	n, m := len(x)/d, len(y)/d
	c := &costMatrix{n: n, m: m, d: d, x: x, y: y, cost: cost, yT: make([]float64, m*d)}
	for j := range m {
		for k := range d {
			c.yT[k*m+j] = y[j*d+k]
		}
	}
	if int64(n)*int64(m)*8 <= budget {
		start := time.Now()
		defer func() { c.stored = time.Since(start) }()
		c.dense = make([]float64, n*m)
		parallelRows(n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				c.fill(i, c.dense[i*m:(i+1)*m])
			}
		})
	}
	return c
}

// row returns C_i· (m values): a slice of the stored matrix, or buf (of
// length ≥ m) filled. The caller must not modify it.
func (c *costMatrix) row(i int, buf []float64) []float64 {
	if c.dense != nil {
		return c.dense[i*c.m : (i+1)*c.m]
	}
	buf = buf[:c.m]
	c.fill(i, buf)
	return buf
}

// at returns C_ij.
func (c *costMatrix) at(i, j int) float64 {
	if c.dense != nil {
		return c.dense[i*c.m+j]
	}
	return c.cost.Between(c.x[i*c.d:(i+1)*c.d], c.y[j*c.d:(j+1)*c.d])
}

// bound returns the cost across the bounding box of both clouds, an upper
// bound of every C_ij that scales rounding tolerances.
func (c *costMatrix) bound() float64 {
	lo, hi := make([]float64, c.d), make([]float64, c.d)
	for k := range lo {
		lo[k], hi[k] = math.Inf(1), math.Inf(-1)
	}
	for _, p := range [][]float64{c.x, c.y} {
		for l, v := range p {
			lo[l%c.d], hi[l%c.d] = min(lo[l%c.d], v), max(hi[l%c.d], v)
		}
	}
	return c.cost.Between(lo, hi)
}

// fill writes C_i· into out (length m), exactly as Between does. It runs
// over the transposed targets, so that the loops stream contiguous slices,
// two pairs of coordinates a pass (and coordinate 0 with the first pass when
// d is odd): out is read and written once per four coordinates, not once
// per two (at 1000 × 1001 points in d = 5, the costs took a fifth of the
// solve).
func (c *costMatrix) fill(i int, out []float64) {
	d, m := c.d, c.m
	out = out[:m]
	xi := c.x[i*d : (i+1)*d]
	y := func(k int) []float64 { return c.yT[k*m : (k+1)*m : (k+1)*m][:len(out)] }
	k := 0
	switch {
	case d%2 == 0:
		clear(out)
	case d >= 5:
		x0, xa, xb, xc, xd := xi[0], xi[1], xi[2], xi[3], xi[4]
		y0, ya, yb, yc, yd := y(0), y(1), y(2), y(3), y(4)
		for j := range out {
			t, ta, tb, tc, td := x0-y0[j], xa-ya[j], xb-yb[j], xc-yc[j], xd-yd[j]
			s := t*t + (ta*ta + tb*tb)
			out[j] = s + (tc*tc + td*td)
		}
		k = 5
	default:
		x0, y0 := xi[0], y(0)
		for j := range out {
			t := x0 - y0[j]
			out[j] = t * t
		}
		k = 1
	}
	for ; k+3 < d; k += 4 {
		xa, xb, xc, xd := xi[k], xi[k+1], xi[k+2], xi[k+3]
		ya, yb, yc, yd := y(k), y(k+1), y(k+2), y(k+3)
		for j := range out {
			ta, tb, tc, td := xa-ya[j], xb-yb[j], xc-yc[j], xd-yd[j]
			s := out[j] + (ta*ta + tb*tb)
			out[j] = s + (tc*tc + td*td)
		}
	}
	if k < d {
		xa, xb := xi[k], xi[k+1]
		ya, yb := y(k), y(k+1)
		for j := range out {
			ta, tb := xa-ya[j], xb-yb[j]
			out[j] += ta*ta + tb*tb
		}
	}
	if c.cost == Euclidean {
		for j, s := range out {
			out[j] = math.Sqrt(s)
		}
	}
}

// checkClouds validates two point clouds of dimension d and the cost, and
// returns the cloud sizes.
func checkClouds(x, y []float64, d int, cost Cost) (n, m int, err error) {
	if cost != SqEuclidean && cost != Euclidean {
		return 0, 0, fmt.Errorf("ot: unknown %v", cost)
	}
	if d < 1 {
		return 0, 0, fmt.Errorf("ot: dimension must be ≥ 1, got %d", d)
	}
	for _, c := range []struct {
		name string
		p    []float64
	}{{"source", x}, {"target", y}} {
		if len(c.p) == 0 || len(c.p)%d != 0 {
			return 0, 0, fmt.Errorf("ot: %s cloud has %d values, expected a positive multiple of d = %d", c.name, len(c.p), d)
		}
		for k, v := range c.p {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, 0, fmt.Errorf("ot: %s point %d has a non-finite coordinate %v", c.name, k/d, v)
			}
		}
	}
	// Finite coordinates can still give costs that overflow: points 1e160
	// apart have a squared distance of +Inf, and then the plan's cost, the
	// duals and Sinkhorn's relative ε are Inf or NaN. The squared cost across
	// the bounding box of both clouds bounds every C_ij (and the plan's total
	// cost); refuse clouds where it exceeds maxCostBound, which leaves the
	// solvers' sums of costs and duals room in float64.
	lo, hi := make([]float64, d), make([]float64, d)
	for k := range lo {
		lo[k], hi[k] = math.Inf(1), math.Inf(-1)
	}
	for _, p := range [][]float64{x, y} {
		for l, v := range p {
			lo[l%d], hi[l%d] = min(lo[l%d], v), max(hi[l%d], v)
		}
	}
	if b := SqEuclidean.Between(lo, hi); !(b <= maxCostBound) {
		axis := 0
		for k := range lo {
			if hi[k]-lo[k] > hi[axis]-lo[axis] {
				axis = k
			}
		}
		return 0, 0, fmt.Errorf("ot: the points span %.3g along coordinate %d: squared distances reach %.3g, beyond the %.0e the solvers can sum in float64 (rescale the data)", hi[axis]-lo[axis], axis, b, maxCostBound)
	}
	return len(x) / d, len(y) / d, nil
}

// maxCostBound is the largest squared distance across the bounding box of
// two clouds that checkClouds accepts (coordinates spanning up to about
// 1e150): a factor of more than 10^8 below MaxFloat64, for sums over pairs.
const maxCostBound = 1e300

// workers returns the number of goroutines parallelRows uses for n rows.
func workers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n))
}

// parallelRows splits [0, n) into workers(n) contiguous ranges, runs
// work(w, lo, hi) on each at once (w numbers the range) and returns when all
// are done.
func parallelRows(n int, work func(w, lo, hi int)) {
	p := workers(n)
	var wg sync.WaitGroup
	for w := 0; w < p; w++ {
		wg.Go(func() { work(w, w*n/p, (w+1)*n/p) })
	}
	wg.Wait()
}
