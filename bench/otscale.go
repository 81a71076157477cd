package bench

import (
	"fmt"
	"syscall"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// OTScaleResult is one exact solve at scale (README "Scale"): ot.Exact
// timed once (no peer: POT's cost matrix of 10^5 × 10^5 points takes 80
// GB), its plan certified by ot.Certify, and the process's peak resident
// memory after both. With Block > 0 below the larger side, the same points
// were also solved in spatial blocks of at most Block points (what
// preprocess does above --exact-max), and BlockCost is that plan's cost.
type OTScaleResult struct {
	Case           OTCase
	Solver         string // ot.Solver
	Seconds, Cost  float64
	Certified      bool
	CertifyError   string
	CertifySeconds float64
	PeakRSS        int64 // bytes, the process's high-water mark (getrusage)

	Block, Blocks           int
	BlockSeconds, BlockCost float64
}

// BlockGap is how much the spatial blocks raise the cost against the
// exact plan: BlockCost/Cost − 1.
func (r OTScaleResult) BlockGap() float64 { return r.BlockCost/r.Cost - 1 }

// String formats a result as one table row.
func (r OTScaleResult) String() string {
	cert := "certified"
	if !r.Certified {
		cert = "NOT certified: " + r.CertifyError
	}
	s := fmt.Sprintf("%-20s exact %8.1fs  cost %.9g  [%s; %s in %.1fs]  peak RSS %d MiB",
		r.Case.Name(), r.Seconds, r.Cost, r.Solver, cert, r.CertifySeconds, r.PeakRSS>>20)
	if r.Blocks > 1 {
		s += fmt.Sprintf("  |  %d spatial blocks of ≤ %d: %.1fs, cost %.9g (%+.2f%%)",
			r.Blocks, r.Block, r.BlockSeconds, r.BlockCost, 100*r.BlockGap())
	}
	return s
}

// ExactOTAtScale solves each case once with ot.Exact, certifies the plan
// and, with block > 0, solves it again in spatial blocks of at most block
// points. The blocks run first, so the peak memory reported is the exact
// solve's (or an earlier, larger case's: the high-water mark only grows).
func ExactOTAtScale(cases []OTCase, block int) ([]OTScaleResult, error) {
	if block < 0 {
		return nil, fmt.Errorf("--block: expected a block size ≥ 0, got %d", block)
	}
	results := make([]OTScaleResult, 0, len(cases))
	for _, c := range cases {
		r, err := exactOTAtScale(c, block)
		if err != nil {
			return nil, fmt.Errorf("bench: OT at scale %s: %w", c.Name(), err)
		}
		results = append(results, r)
	}
	return results, nil
}

func exactOTAtScale(c OTCase, block int) (OTScaleResult, error) {
	res := OTScaleResult{Case: c, Solver: ot.Solver(c.N, c.M, c.D)}
	x, y, err := OTData(c)
	if err != nil {
		return res, err
	}
	if block > 0 && block < max(c.N, c.M) {
		if res.Blocks, err = ot.Blocks(c.N, c.M, block); err != nil {
			return res, err
		}
		start := time.Now()
		rowX, rowY, err := ot.SpatialOrder(x, y, c.D, block)
		if err != nil {
			return res, err
		}
		plan, err := ot.ExactBlocks(gather(x, rowX, c.D), gather(y, rowY, c.D), c.D, ot.SqEuclidean, block)
		if err != nil {
			return res, err
		}
		res.Block, res.BlockSeconds, res.BlockCost = block, time.Since(start).Seconds(), plan.Cost
	}
	start := time.Now()
	plan, err := ot.Exact(x, y, c.D, ot.SqEuclidean)
	if err != nil {
		return res, err
	}
	res.Seconds, res.Cost = time.Since(start).Seconds(), plan.Cost
	start = time.Now()
	if err := ot.Certify(x, y, c.D, ot.SqEuclidean, plan); err != nil {
		res.CertifyError = err.Error()
	} else {
		res.Certified = true
	}
	res.CertifySeconds = time.Since(start).Seconds()
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err == nil {
		res.PeakRSS = usage.Maxrss << 10 // Linux reports kilobytes
	}
	return res, nil
}

// gather returns the rows of x (of dimension d) in the given order.
func gather(x []float64, rows []int, d int) []float64 {
	out := make([]float64, 0, len(rows)*d)
	for _, i := range rows {
		out = append(out, x[i*d:(i+1)*d]...)
	}
	return out
}
