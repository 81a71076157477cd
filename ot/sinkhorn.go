package ot

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// SinkhornOptions configures Sinkhorn.
type SinkhornOptions struct {
	Cost Cost
	// Epsilon is the entropic regularisation, > 0: ε·mean_ij C_ij unless
	// Absolute, then ε itself.
	Epsilon  float64
	Absolute bool
	// Tol stops the iterations once the marginal error is below it
	// (default DefaultSinkhornTol); MaxIter caps them (default
	// DefaultSinkhornMaxIter).
	Tol     float64
	MaxIter int
}

// Defaults of SinkhornOptions, and of preprocess's --sinkhorn-tol and
// --sinkhorn-max-iter (through couplings.DefaultOptions).
const (
	DefaultSinkhornTol     = 1e-6
	DefaultSinkhornMaxIter = 10000
)

// RowMass is the share of each source's mass that the pairs of an entropic
// plan keep (docs/design.md §2.1).
const RowMass = 0.99

// SinkhornResult is an entropic plan and how the iterations went; callers
// should report Converged, Iterations and MarginalError.
type SinkhornResult struct {
	// Plan keeps, for each source i, the fewest targets that hold RowMass of
	// its row mass (the largest entries), with their plan weights P_ij, not
	// renormalised: they sum to about RowMass. Plan.Cost is the cost of
	// those pairs. It carries no duals.
	Plan *Plan
	// TransportCost is Σ_ij P_ij C_ij over the whole plan.
	TransportCost float64
	// Epsilon is the absolute regularisation used.
	Epsilon       float64
	Converged     bool
	Iterations    int
	MarginalError float64 // Σ_i |Σ_j P_ij − 1/n|; the column sums are exact
}

// Sinkhorn returns the entropic optimal plan between the uniform measures on
// x (n points) and y (m points) of dimension d,
//
//	P = argmin ⟨P, C⟩ − ε H(P)  over P ≥ 0 with row sums 1/n, column sums 1/m,
//
// by Sinkhorn's iterations in the log domain (Peyré & Cuturi, Computational
// Optimal Transport, 2019, §4.4): P_ij = exp((f_i + g_j − C_ij)/ε) with
//
//	f_i ← f_i + ε log(1/n) − ε log Σ_j P_ij,   g_j ← g_j + ε log(1/m) − ε log Σ_i P_ij.
//
// The row sums computed for the f update give the marginal error of the plan
// left by the previous g update for free. Sums are taken without a shift
// (the terms are at most 1 once the first update is done) and redone with
// the log-sum-exp maximum shift where they underflow. The passes run on
// GOMAXPROCS goroutines.
//
// If all costs are 0, the relative ε is taken as ε itself (any ε gives the
// product plan). Memory: the cost matrix while within DenseBudget (rows are
// recomputed in each pass otherwise), plus O(n + m) and the kept pairs.
func Sinkhorn(x, y []float64, d int, opt SinkhornOptions) (*SinkhornResult, error) {
	return SinkhornBlocks(x, y, d, opt, 0)
}

// SinkhornBlocks runs Sinkhorn on each block of blockRanges (see
// ExactBlocks) and merges the plans with mergeBlocks. A relative ε is
// relative to the mean cost over all blocks' pairs, so every block uses the
// same absolute ε. The result has converged if every block has; Iterations
// is the most any block took, MarginalError that of the merged plan.
func SinkhornBlocks(x, y []float64, d int, opt SinkhornOptions, block int) (*SinkhornResult, error) {
	n, m, err := checkClouds(x, y, d, opt.Cost)
	if err != nil {
		return nil, err
	}
	if !(opt.Epsilon > 0) || math.IsInf(opt.Epsilon, 0) {
		return nil, fmt.Errorf("ot: sinkhorn: epsilon must be finite and > 0, got %v", opt.Epsilon)
	}
	ranges, err := blockRanges(n, m, block)
	if err != nil {
		return nil, err
	}
	tol, maxIter := opt.Tol, opt.MaxIter
	if tol <= 0 {
		tol = DefaultSinkhornTol
	}
	if maxIter <= 0 {
		maxIter = DefaultSinkhornMaxIter
	}
	blockCosts := func(r blockRange, budget int64) *costMatrix {
		return newCostMatrix(x[r.i0*d:r.i1*d], y[r.j0*d:r.j1*d], d, opt.Cost, budget)
	}
	eps := opt.Epsilon
	if !opt.Absolute {
		var total, count float64
		for _, r := range ranges {
			k := float64(r.i1-r.i0) * float64(r.j1-r.j0)
			total += meanCost(blockCosts(r, 0)) * k
			count += k
		}
		if total > 0 {
			eps *= total / count
		}
	}
	res := &SinkhornResult{Epsilon: eps, Converged: true}
	plans := make([]*Plan, len(ranges))
	for b, r := range ranges {
		q := sinkhornSolve(blockCosts(r, DenseBudget), eps, tol, maxIter)
		share := float64(r.i1-r.i0) / float64(n)
		plans[b] = q.Plan
		res.TransportCost += q.TransportCost * share
		res.Converged = res.Converged && q.Converged
		res.Iterations = max(res.Iterations, q.Iterations)
		res.MarginalError += q.MarginalError * share
	}
	res.Plan = mergeBlocks(n, m, ranges, plans)
	return res, nil
}

// sinkhornSolve runs the iterations on one cost matrix with absolute ε.
func sinkhornSolve(c *costMatrix, eps, tol float64, maxIter int) *SinkhornResult {
	s := &sinkhorn{c: c, eps: eps, f: make([]float64, c.n), g: make([]float64, c.m)}
	res := &SinkhornResult{Epsilon: eps, MarginalError: math.Inf(1)}
	for res.Iterations < maxIter {
		res.Iterations++
		errRows := s.updateRows()
		if res.Iterations > 1 {
			res.MarginalError = errRows
		}
		if res.MarginalError < tol {
			// errRows was measured before the f update: keep that plan.
			res.Converged = true
			copy(s.f, s.prevF)
			break
		}
		s.updateColumns()
	}
	if !res.Converged {
		// The loop ended on a g update: the columns are exact; measure the
		// rows of that plan.
		res.MarginalError = s.rowError()
	}
	res.Plan, res.TransportCost = s.plan()
	return res
}

// meanCost returns the mean of all n·m costs.
func meanCost(c *costMatrix) float64 {
	sums := make([]float64, c.n)
	parallelRows(c.n, func(_, lo, hi int) {
		buf := make([]float64, c.m)
		for i := lo; i < hi; i++ {
			for _, cij := range c.row(i, buf) {
				sums[i] += cij
			}
		}
	})
	var total float64
	for _, s := range sums {
		total += s
	}
	return total / (float64(c.n) * float64(c.m))
}

type sinkhorn struct {
	c     *costMatrix
	eps   float64
	f, g  []float64
	prevF []float64
}

// logSumExp returns log Σ_k exp(z_k) where z_k = (f + g_k − r_k)/ε, summing
// without a shift when that neither underflows nor overflows.
func (s *sinkhorn) logSumExp(f float64, g, r []float64) float64 {
	inv := 1 / s.eps
	g = g[:len(r)]
	var sum float64
	for k, rk := range r {
		sum += math.Exp((f + g[k] - rk) * inv)
	}
	if sum > 1e-250 && sum < 1e250 {
		return math.Log(sum)
	}
	top := math.Inf(-1)
	for k, rk := range r {
		top = max(top, (f+g[k]-rk)*inv)
	}
	sum = 0
	for k, rk := range r {
		sum += math.Exp((f+g[k]-rk)*inv - top)
	}
	return top + math.Log(sum)
}

// updateRows sets f_i ← f_i + ε(log(1/n) − log Σ_j P_ij), keeps the old f in
// prevF, and returns Σ_i |Σ_j P_ij − 1/n| of the plan before the update.
func (s *sinkhorn) updateRows() float64 {
	n, m := s.c.n, s.c.m
	s.prevF = append(s.prevF[:0], s.f...)
	logA := -math.Log(float64(n))
	errs := make([]float64, n)
	parallelRows(n, func(_, lo, hi int) {
		buf := make([]float64, m)
		for i := lo; i < hi; i++ {
			lse := s.logSumExp(s.f[i], s.g, s.c.row(i, buf))
			errs[i] = math.Abs(math.Exp(lse) - 1/float64(n))
			s.f[i] += s.eps * (logA - lse)
		}
	})
	var total float64
	for _, e := range errs {
		total += e
	}
	return total
}

// rowError returns Σ_i |Σ_j P_ij − 1/n| without updating f.
func (s *sinkhorn) rowError() float64 {
	err := s.updateRows()
	copy(s.f, s.prevF)
	return err
}

// updateColumns sets g_j ← g_j + ε(log(1/m) − log Σ_i P_ij). The column
// sums are accumulated row by row (one pass over the matrix, per worker);
// columns where the plain sum underflows are redone with the shift.
func (s *sinkhorn) updateColumns() {
	n, m := s.c.n, s.c.m
	inv := 1 / s.eps
	parts := make([][]float64, workers(n))
	parallelRows(n, func(w, lo, hi int) {
		buf := make([]float64, m)
		sum := make([]float64, m)
		g := s.g[:m]
		for i := lo; i < hi; i++ {
			fi := s.f[i]
			for j, cij := range s.c.row(i, buf) {
				sum[j] += math.Exp((fi + g[j] - cij) * inv)
			}
		}
		parts[w] = sum
	})
	logB := -math.Log(float64(m))
	col := make([]float64, n)
	for j := range s.g {
		var sum float64
		for _, p := range parts {
			sum += p[j]
		}
		var lse float64
		if sum > 1e-250 && sum < 1e250 {
			lse = math.Log(sum)
		} else {
			for i := range col {
				col[i] = s.c.at(i, j)
			}
			lse = s.logSumExp(s.g[j], s.f, col)
		}
		s.g[j] += s.eps * (logB - lse)
	}
}

// plan returns the plan of the pairs that hold RowMass of each source's row
// mass r_i (the fewest targets, largest first), and the cost ⟨P, C⟩ of the
// whole plan. Entries below (1 − RowMass)·r_i/m together hold less than
// (1 − RowMass)·r_i, so the kept ones are found among the larger entries.
func (s *sinkhorn) plan() (*Plan, float64) {
	n, m := s.c.n, s.c.m
	inv := 1 / s.eps
	rows := make([][]Pair, n)
	costs := make([]float64, n)
	parallelRows(n, func(_, lo, hi int) {
		buf, p := make([]float64, m), make([]float64, m)
		for i := lo; i < hi; i++ {
			r := s.c.row(i, buf)
			var mass float64
			for j, cij := range r {
				p[j] = math.Exp((s.f[i] + s.g[j] - cij) * inv)
				mass += p[j]
				costs[i] += p[j] * cij
			}
			var kept []Pair
			floor := (1 - RowMass) * mass / float64(m)
			for j, w := range p {
				if w >= floor && w > 0 {
					kept = append(kept, Pair{I: i, J: j, W: w})
				}
			}
			slices.SortFunc(kept, func(a, b Pair) int { return cmp.Compare(b.W, a.W) })
			var held float64
			for k, q := range kept {
				held += q.W
				if held >= RowMass*mass {
					kept = kept[:k+1]
					break
				}
			}
			rows[i] = kept
		}
	})
	var pairs []Pair
	var cost float64
	for i := range rows {
		pairs = append(pairs, rows[i]...)
		cost += costs[i]
	}
	return newPlan(s.c, pairs, nil, nil), cost
}
