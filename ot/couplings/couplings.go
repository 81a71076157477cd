// Package couplings precomputes what JKOnet* training needs from the data
// (docs/design.md §2): for every transition k → k+1 between consecutive snapshots,
// the optimal-transport coupling pairs (x_i, y_j, w_ij) and the density score
// s(y) of the target snapshot at every y_j. It is computed once per data set,
// per transition, so it can be sharded and cached.
package couplings

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
	"github.com/jkonet-gpu/jkonet-gpu/ot/density"
)

// Options configures Compute. The zero value is not valid: start from
// DefaultOptions.
type Options struct {
	Method string `json:"coupling"` // "exact", "sinkhorn" or "ids"
	// Block, if > 0, solves blocks of Block particles separately (--ot-block):
	// blocks of consecutive rows with BlockOrder "index", as the reference
	// did on synthetic data; with "spatial", matching cells of a k-d
	// partition of both snapshots (ot.SpatialOrder); with "random", blocks
	// of a random permutation of each snapshot's rows, seeded by Seed
	// (--ot-block-order). Data sorted by anything (cluster, batch, sample)
	// need spatial or random blocks.
	Block      int    `json:"ot_block"`
	BlockOrder string `json:"ot_block_order"`
	// ExactMax: exact OT without blocks on a transition whose larger
	// snapshot has more than ExactMax points is solved in spatial blocks
	// instead (see Blocking); 0 never blocks on its own; ExactMaxAuto (the
	// default) takes DefaultExactMax of the data's dimension (--exact-max).
	// Couplings record the number in force (Resolved).
	ExactMax int `json:"exact_max"`
	// Sinkhorn: ε relative to the mean cost unless EpsilonAbsolute; stop when
	// the marginal error is below Tol or after MaxIter iterations.
	Epsilon         float64 `json:"epsilon"`
	EpsilonAbsolute bool    `json:"epsilon_absolute"`
	Tol             float64 `json:"sinkhorn_tol"`
	MaxIter         int     `json:"sinkhorn_max_iter"`
	// Mixture: components per snapshot and the seed of its k-means++.
	Components int    `json:"components"`
	Seed       uint64 `json:"seed"`
}

// ExactMaxAuto as Options.ExactMax (--exact-max auto, the default) takes
// DefaultExactMax(d) for data of dimension d.
const ExactMaxAuto = -1

// TreeMaxDim is the largest dimension in which ot's exact solvers search
// k-d trees on large problems (ot.Solver says "+ k-d trees"), where
// DefaultExactMax allows more points (TestDefaultExactMaxFollowsTrees).
const TreeMaxDim = 8

// Exact OT's size limits without blocks (DefaultExactMax): where the exact
// solvers search k-d trees, and where they pass over rows of costs.
const (
	exactMaxTrees = 50_000
	exactMaxRows  = 20_000
)

// DefaultExactMax is the most points a snapshot that exact OT solves
// without blocks by default in dimension d: the most that stays within a
// few minutes of CPU on 2 cores at the worst shape (n × (n ± 1) and
// n × 3n/2 take the network simplex; n = m, LAPJV, is several times
// faster), in memory that grows with the points (sparse candidate arcs),
// never with n·m. Measured with bench --what ot-scale, uniform points
// (README "Scale"): in d ≤ 8 the solvers search k-d trees, and 5·10^4 ×
// 50001 points took 117 s of CPU and 288 MB in d = 5, 122 s and 284 MB in
// d = 8, where 10^5 × 99999 took 523 s in d = 5, so 5·10^4. In d > 8 they
// pass over rows of costs: 2·10^4 × 20001 points in d = 50 took 70 s and
// 180 MiB (2026-12-07, after the row passes' candidate arcs went one-sided;
// 10^4 × 10001 took 21 s of CPU before); at n^2.2, 10^5 × 10^5 would take
// about 35 times that, so 2·10^4.
func DefaultExactMax(d int) int {
	if d <= TreeMaxDim {
		return exactMaxTrees
	}
	return exactMaxRows
}

// DefaultOptions are the spec's settings: exact OT (in spatial blocks above
// DefaultExactMax points of the data's dimension), 10-component mixtures.
func DefaultOptions() Options {
	return Options{Method: "exact", BlockOrder: "index", ExactMax: ExactMaxAuto, Epsilon: 0.01, Tol: ot.DefaultSinkhornTol, MaxIter: ot.DefaultSinkhornMaxIter, Components: density.DefaultComponents}
}

// Resolved returns o for data of dimension d: ExactMaxAuto replaced by
// DefaultExactMax(d), the number that couplings record and compare.
func (o Options) Resolved(d int) Options {
	if o.ExactMax == ExactMaxAuto {
		o.ExactMax = DefaultExactMax(d)
	}
	return o
}

// Blocking returns how a transition of n sources and m targets in
// dimension d is solved: the block size (0: whole snapshots) and order, and
// whether they were chosen automatically. That is Block and BlockOrder as
// given, except for exact OT without blocks where max(n, m) > ExactMax > 0
// (ExactMax resolved for d): then B =
// ⌈max(n, m)/ExactMax⌉ spatial blocks of ⌈max(n, m)/B⌉ points, the same as
// asking for that Block with BlockOrder "spatial". Each block's plan is
// optimal between two matching regions; only pairs near the regions'
// boundaries can differ from the whole problem's optimum: the price of
// bounded time.
func (o Options) Blocking(n, m, d int) (block int, order string, auto bool) {
	o = o.Resolved(d)
	big := max(n, m)
	if o.Method != "exact" || o.Block != 0 || o.ExactMax <= 0 || big <= o.ExactMax {
		return o.Block, o.BlockOrder, false
	}
	b := (big + o.ExactMax - 1) / o.ExactMax
	return (big + b - 1) / b, "spatial", true
}

// Couplings holds all pairs of all transitions, stacked in transition order.
type Couplings struct {
	D     int
	X, Y  []float64 // K×d sources and targets
	W     []float64 // K plan weights
	K     []int64   // K transition indices: pair p belongs to times[K[p]] → times[K[p]+1]
	Tau   []float64 // K time steps τ_k (docs/design.md §1.3)
	Score []float64 // K×d density score s(y) of the target snapshot
	Times []float64 // T+1 snapshot time labels
	// Provenance: what the couplings were computed from; nil for a file
	// written without one (by another tool or an older version).
	Provenance *Provenance
}

// Len is the number of pairs.
func (c *Couplings) Len() int { return len(c.W) }

// TransitionReport describes one transition's coupling.
type TransitionReport struct {
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	N       int     `json:"n"`       // source size
	M       int     `json:"m"`       // target size
	Pairs   int     `json:"pairs"`   // pairs kept
	Cost    float64 `json:"cost"`    // Σ w‖x − y‖² over the kept pairs
	Seconds float64 `json:"seconds"` // solver time
	// Blocks > 1: solved in that many blocks of at most Block points, in
	// BlockOrder; Automatic: chosen because the snapshots exceed ExactMax.
	Blocks     int    `json:"blocks,omitempty"`
	Block      int    `json:"block,omitempty"`
	BlockOrder string `json:"block_order,omitempty"`
	Automatic  bool   `json:"automatic,omitempty"`
	// Sinkhorn only: iterations, convergence, final marginal error and the
	// absolute ε used.
	Iterations    int     `json:"iterations,omitempty"`
	Converged     *bool   `json:"converged,omitempty"`
	MarginalError float64 `json:"marginal_error,omitempty"`
	Epsilon       float64 `json:"epsilon,omitempty"`
}

// SnapshotReport describes the density fit of one target snapshot.
type SnapshotReport struct {
	Time          float64 `json:"time"`
	Points        int     `json:"points"`
	Components    int     `json:"components"`     // kept by the determinant filter
	LogLikelihood float64 `json:"log_likelihood"` // mean log-likelihood per point
	Iterations    int     `json:"iterations"`
	Converged     bool    `json:"converged"`
	Seconds       float64 `json:"seconds"`
	Note          string  `json:"note,omitempty"` // fallback taken, or why the score is 0
}

// Report is what Compute measured, for `preprocess --json`.
type Report struct {
	Transitions []TransitionReport `json:"transitions"`
	Snapshots   []SnapshotReport   `json:"snapshots"`
}

// TimeSteps returns τ_k = (t_{k+1} − t_k) / mean_k(t_{k+1} − t_k) for sorted
// distinct times: 1 for evenly spaced snapshots.
//
// Fallback: where (t_{k+1} − t_k)·n overflows (labels near 1e308), τ_k is
// computed as (t_{k+1} − t_k)/span·n instead, the same value rounded
// differently; ordinary times never take it, so their τ stay bit for bit.
// A τ_k that is still not finite and positive (a span that overflows, or a
// step so small against the others that it underflows to 0) is left as it
// is: Compute refuses it.
func TimeSteps(times []float64) []float64 {
	n := len(times) - 1
	tau := make([]float64, n)
	span := times[n] - times[0]
	for k := range tau {
		tau[k] = (times[k+1] - times[k]) * float64(n) / span
		if math.IsInf(tau[k], 0) {
			tau[k] = (times[k+1] - times[k]) / span * float64(n)
		}
	}
	return tau
}

// Compute couples every pair of consecutive snapshots of set and evaluates
// the density score of each target snapshot at the coupled targets.
func Compute(set *snapshot.Set, opts Options) (*Couplings, *Report, error) {
	return ComputeProgress(set, opts, nil)
}

// Work is the number of units of work that ComputeProgress reports: per
// transition, its OT blocks (1 unless blocked) and the target's density fit.
func Work(set *snapshot.Set, opts Options) int {
	snaps := set.Snapshots()
	units := 0
	for k := 0; k+1 < len(snaps); k++ {
		n, m := snaps[k].Len(), snaps[k+1].Len()
		block, _, _ := opts.Blocking(n, m, set.D)
		nb, err := ot.Blocks(n, m, block)
		if opts.Method != "exact" || err != nil {
			nb = 1
		}
		units += nb + 1
	}
	return units
}

// ComputeProgress is Compute showing its progress on bar (nil: silent),
// made with Work(set, opts) units: at 10^5 points a snapshot each OT block
// and density fit takes a minute or more.
func ComputeProgress(set *snapshot.Set, opts Options, bar *progress.Bar) (*Couplings, *Report, error) {
	snaps := set.Snapshots()
	if len(snaps) < 2 {
		return nil, nil, fmt.Errorf("need at least 2 snapshot times to couple, got %d", len(snaps))
	}
	for _, s := range snaps {
		if s.Len() < 2 {
			return nil, nil, fmt.Errorf("snapshot t=%v has %d point; coupling and density fits need at least 2", s.Time, s.Len())
		}
	}
	if err := opts.validate(); err != nil {
		return nil, nil, err
	}
	d := set.D
	opts = opts.Resolved(d)
	c := &Couplings{D: d, Times: set.Times(), Provenance: &Provenance{Data: set.Hash(), Options: opts}}
	tau := TimeSteps(c.Times)
	for k, v := range tau {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("snapshot times t=%v → t=%v: the time step relative to the mean interval is %v, expected a finite number > 0 (the times span %v to %v; rescale them)", c.Times[k], c.Times[k+1], v, c.Times[0], c.Times[len(c.Times)-1])
		}
	}
	// Room for max(n, m) pairs a transition, what an exact plan of n = m
	// points keeps: appends that doubled the arrays held up to three times
	// their final size at once (1.9 GB of peak memory at 10^5 cells × 5
	// snapshots in d = 50).
	rows := 0
	for k := 0; k+1 < len(snaps); k++ {
		rows += max(snaps[k].Len(), snaps[k+1].Len())
	}
	c.X, c.Y, c.Score = make([]float64, 0, rows*d), make([]float64, 0, rows*d), make([]float64, 0, rows*d)
	c.W, c.K, c.Tau = make([]float64, 0, rows), make([]int64, 0, rows), make([]float64, 0, rows)
	rep := &Report{}
	done := 0
	for k := 0; k+1 < len(snaps); k++ {
		src, dst := snaps[k], snaps[k+1]
		before := done
		pairs, tr, err := couple(src, dst, d, opts, func(solved, blocks int) {
			done = before + solved
			bar.Update(done, fmt.Sprintf("t=%g → t=%g: OT block %d/%d", src.Time, dst.Time, solved, blocks))
		})
		if err != nil {
			return nil, nil, fmt.Errorf("transition t=%v → t=%v: %w", src.Time, dst.Time, err)
		}
		done = before + max(tr.Blocks, 1)
		bar.Update(done, fmt.Sprintf("t=%g: density fit", dst.Time))
		tr.From, tr.To = src.Time, dst.Time
		rep.Transitions = append(rep.Transitions, tr)

		mix, sr, err := fitDensity(dst, d, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("density of snapshot t=%v: %w", dst.Time, err)
		}
		done++
		bar.Update(done, fmt.Sprintf("t=%g: density fitted", dst.Time))
		rep.Snapshots = append(rep.Snapshots, sr)
		first := len(c.W)
		for _, p := range pairs {
			c.X = append(c.X, src.X[p.I*d:(p.I+1)*d]...)
			c.Y = append(c.Y, dst.X[p.J*d:(p.J+1)*d]...)
			c.W = append(c.W, p.W)
			c.K = append(c.K, int64(k))
			c.Tau = append(c.Tau, tau[k])
		}
		at := len(c.Score)
		c.Score = slices.Grow(c.Score, len(pairs)*d)[:at+len(pairs)*d]
		if err := mix.Score(c.Y[first*d:], d, c.Score[at:]); err != nil {
			return nil, nil, err
		}
	}
	return c, rep, nil
}

func (o Options) validate() error {
	switch {
	case o.Method != "exact" && o.Method != "sinkhorn" && o.Method != "ids":
		return fmt.Errorf("--coupling: unknown method %q (expected exact, sinkhorn or ids)", o.Method)
	case o.Block < 0:
		return fmt.Errorf("--ot-block: expected a block size ≥ 0, got %d", o.Block)
	case o.BlockOrder != "index" && o.BlockOrder != "spatial" && o.BlockOrder != "random":
		return fmt.Errorf("--ot-block-order: expected index, spatial or random, got %q", o.BlockOrder)
	case o.ExactMax < 0 && o.ExactMax != ExactMaxAuto:
		return fmt.Errorf("--exact-max: expected auto or a number of points ≥ 0 (0: never block on its own), got %d", o.ExactMax)
	case o.Method == "sinkhorn" && !(o.Epsilon > 0 && !math.IsInf(o.Epsilon, 0)):
		return fmt.Errorf("--epsilon: expected a finite ε > 0, got %v", o.Epsilon)
	case o.Components < 1:
		return fmt.Errorf("--components: expected at least 1, got %d", o.Components)
	}
	return nil
}

// couple solves one transition and keeps the pairs that carry the plan's
// mass (docs/design.md §2.1): w > 1/(10·max(n, m)) for exact plans; for entropic
// plans, per source the fewest targets holding 99% of its row mass. Method
// "ids" pairs the rows that share a trajectory id instead. Blocks (see
// Blocking) of spatial or random order are blocks of the rows permuted; the
// pairs are given in the original rows, sorted by source, then target.
// solved hears each exact block.
func couple(src, dst snapshot.Snapshot, d int, opts Options, solved func(done, blocks int)) ([]ot.Pair, TransitionReport, error) {
	n, m := src.Len(), dst.Len()
	tr := TransitionReport{N: n, M: m}
	block, order, auto := opts.Blocking(n, m, d)
	if opts.Method != "ids" && block > 0 {
		nb, err := ot.Blocks(n, m, block)
		if err != nil {
			return nil, tr, err
		}
		if nb > 1 {
			tr.Blocks, tr.Block, tr.BlockOrder, tr.Automatic = nb, block, order, auto
		}
	}
	// x and y are the rows the solvers see: permuted for spatial and random
	// blocks.
	x, y := src.X, dst.X
	var rowX, rowY []int
	switch tr.BlockOrder {
	case "spatial":
		var err error
		if rowX, rowY, err = ot.SpatialOrder(x, y, d, block); err != nil {
			return nil, tr, err
		}
	case "random":
		rng := rand.New(rand.NewPCG(opts.Seed, blockStream))
		rowX, rowY = rng.Perm(n), rng.Perm(m)
	}
	if rowX != nil {
		x, y = gather(x, rowX, d), gather(y, rowY, d)
	}
	start := time.Now()
	var pairs []ot.Pair
	switch opts.Method {
	case "ids":
		var err error
		if pairs, err = pairByID(src.ID, dst.ID); err != nil {
			return nil, tr, err
		}
	case "exact":
		plan, err := ot.ExactBlocksProgress(x, y, d, ot.SqEuclidean, block, solved)
		if err != nil {
			return nil, tr, err
		}
		pairs = ot.FilterPairs(plan)
	case "sinkhorn":
		res, err := ot.SinkhornBlocks(x, y, d, ot.SinkhornOptions{
			Cost: ot.SqEuclidean, Epsilon: opts.Epsilon, Absolute: opts.EpsilonAbsolute, Tol: opts.Tol, MaxIter: opts.MaxIter,
		}, block)
		if err != nil {
			return nil, tr, err
		}
		pairs = res.Plan.Pairs // already the 99% row-mass pairs
		converged := res.Converged
		tr.Iterations, tr.Converged, tr.MarginalError, tr.Epsilon = res.Iterations, &converged, res.MarginalError, res.Epsilon
	}
	if rowX != nil {
		for p := range pairs {
			pairs[p].I, pairs[p].J = rowX[pairs[p].I], rowY[pairs[p].J]
		}
		slices.SortFunc(pairs, func(a, b ot.Pair) int { return cmp.Or(cmp.Compare(a.I, b.I), cmp.Compare(a.J, b.J)) })
	}
	tr.Seconds = time.Since(start).Seconds()
	tr.Pairs = len(pairs)
	for _, p := range pairs {
		tr.Cost += p.W * ot.SqEuclidean.Between(src.X[p.I*d:(p.I+1)*d], dst.X[p.J*d:(p.J+1)*d])
	}
	return pairs, tr, nil
}

// blockStream is the PCG stream of the random block order; the seed is
// Options.Seed, which also seeds the mixtures' k-means++ on another stream.
const blockStream = 0x6a6b6f6e_65742d62 // "jkonet-b"

// gather returns the rows of x (of dimension d) in the given order.
func gather(x []float64, rows []int, d int) []float64 {
	out := make([]float64, 0, len(rows)*d)
	for _, i := range rows {
		out = append(out, x[i*d:(i+1)*d]...)
	}
	return out
}

// pairByID pairs source i with target j where their trajectory ids are
// equal, each pair with weight 1/(number of pairs): the coupling of tracked
// data (simulations, lineage tracing), and the oracle coupling against which
// OT couplings can be judged.
func pairByID(src, dst []int64) ([]ot.Pair, error) {
	if src == nil || dst == nil {
		return nil, fmt.Errorf(`--coupling ids: the data have no trajectory ids (an "id" array or column)`)
	}
	if _, err := indexByID(src, "source"); err != nil {
		return nil, err
	}
	target, err := indexByID(dst, "target")
	if err != nil {
		return nil, err
	}
	var pairs []ot.Pair
	for i, id := range src {
		if j, ok := target[id]; ok {
			pairs = append(pairs, ot.Pair{I: i, J: j})
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("--coupling ids: no trajectory id is in both snapshots")
	}
	for p := range pairs {
		pairs[p].W = 1 / float64(len(pairs))
	}
	return pairs, nil
}

// indexByID maps each id to its row, refusing an id that appears twice.
func indexByID(ids []int64, which string) (map[int64]int, error) {
	row := make(map[int64]int, len(ids))
	for i, id := range ids {
		if _, dup := row[id]; dup {
			return nil, fmt.Errorf("--coupling ids: id %d appears twice in the %s snapshot", id, which)
		}
		row[id] = i
	}
	return row, nil
}

// fitDensity fits the target snapshot's Gaussian mixture.
func fitDensity(s snapshot.Snapshot, d int, opts Options) (*density.Mixture, SnapshotReport, error) {
	start := time.Now()
	mix, info, err := density.FitMixture(s.X, d, density.MixtureOptions{Components: opts.Components, Seed: opts.Seed})
	if err != nil {
		return nil, SnapshotReport{}, err
	}
	sr := SnapshotReport{
		Time: s.Time, Points: s.Len(), Components: info.Kept, LogLikelihood: info.LogLikelihood,
		Iterations: info.Iterations, Converged: info.Converged, Seconds: time.Since(start).Seconds(), Note: info.Note,
	}
	return mix, sr, nil
}
