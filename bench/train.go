package bench

import (
	_ "embed"
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

//go:embed peers/train_torch.py
var trainTorchScript string

// StepTolerance is the largest relative difference between the first-step
// losses, and between the first-step gradients (in norm), of the Go and
// PyTorch implementations that counts as equal.
const StepTolerance = 1e-9

// defaultStepPairs are the batch sizes of the training-step table.
var defaultStepPairs = []int{250, 1000, 10_000}

// stepWarmup is how many untimed steps each side runs first (the Go side
// once per case, the peer once per process).
const stepWarmup = 2

// StepCase is one training-step comparison: jkonet-star in R^D, optimisation
// steps on batches of Pairs coupling pairs with Samples interaction samples
// per pair in each of the two subsample sets; every round times Steps steps
// on each side.
type StepCase struct {
	Pairs, D, Samples, Steps int
	Seed                     uint64
}

// Name is a short label such as "B1000 d10 S16".
func (c StepCase) Name() string {
	return fmt.Sprintf("B%d d%d S%d", c.Pairs, c.D, c.Samples)
}

// StepCases are the cases for the given batch sizes in d = 2 and d = 10, with
// the CPU's default interaction samples (engine.DefaultCPUSamples) and more
// timed steps per round for small batches (5000 pairs' worth, 5 to 50).
func StepCases(pairs []int) []StepCase {
	var cases []StepCase
	for _, d := range []int{2, 10} {
		for _, b := range pairs {
			steps := min(max(5000/max(b, 1), 5), 50)
			cases = append(cases, StepCase{Pairs: b, D: d, Samples: engine.DefaultCPUSamples, Steps: steps, Seed: 1})
		}
	}
	return cases
}

// DefaultStepCases are StepCases(defaultStepPairs): batches of 250, 1000 and
// 10,000 pairs in d = 2 and 10.
func DefaultStepCases() []StepCase { return StepCases(defaultStepPairs) }

// StepResult compares one training step of the cpu backend with the
// PyTorch peer on one case: the median step times (Go: engine's cpu backend
// Step, batch assembly and interaction sampling included; PyTorch: loss,
// backward, clipping and Adam on a fixed batch), their ratio (below 1: Go is
// faster), the first-step loss and gradient of both on the same batch and
// parameters with their relative differences, and the Go heap: the live heap
// (after a collection) after the warm-up and after all timed steps, and the
// allocations per timed step.
type StepResult struct {
	Case                             StepCase
	Threads                          int // Go workers (GOMAXPROCS) and PyTorch threads
	GoSeconds, TorchSeconds, Ratio   float64
	GoLoss, TorchLoss, RelLossDiff   float64
	GradNorm, RelGradDiff            float64
	HeapBefore, HeapAfter            uint64
	AllocsPerStep, AllocBytesPerStep float64
}

// Agree reports whether both implementations computed the same first-step
// loss and gradient, to StepTolerance.
func (r StepResult) Agree() bool {
	return r.RelLossDiff <= StepTolerance && r.RelGradDiff <= StepTolerance
}

// String formats a result as one table row.
func (r StepResult) String() string {
	s := fmt.Sprintf("%-15s %d threads  go %8.4fs  torch %8.4fs  ratio %5.2f  loss %.10g rel diff %.1e  grad rel diff %.1e  heap %.2f → %.2f MiB  allocs/step %.1f (%.0f B)",
		r.Case.Name(), r.Threads, r.GoSeconds, r.TorchSeconds, r.Ratio, r.GoLoss, r.RelLossDiff, r.RelGradDiff,
		float64(r.HeapBefore)/(1<<20), float64(r.HeapAfter)/(1<<20), r.AllocsPerStep, r.AllocBytesPerStep)
	if !r.Agree() {
		s += "  MISMATCH"
	}
	return s
}

// CompareTrainingStep times jkonet-star training steps on every case with
// engine's cpu backend and with the PyTorch peer (float64, as many threads
// as GOMAXPROCS; run with GOMAXPROCS=1 for a single-core comparison). After
// the Go warm-up, rounds alternate: Steps timed Go steps, then one PyTorch
// process that warms up and times Steps steps; the medians run over all
// rounds. It fails with an error wrapping ErrNoPeer when PyTorch is missing.
//
// PyTorch's OpenMP threads wait for each other at every operation, so on a
// machine where other processes hold cores its step slows down far more than
// Go's, whose workers take the work as they come free: compare on an idle
// machine, or on one thread.
func CompareTrainingStep(cases []StepCase, repeats int) ([]StepResult, error) {
	if repeats < 1 {
		return nil, fmt.Errorf("bench: repeats %d, want ≥ 1", repeats)
	}
	if err := PeerAvailable("torch"); err != nil {
		return nil, err
	}
	results := make([]StepResult, 0, len(cases))
	for _, c := range cases {
		r, err := compareStepCase(c, repeats)
		if err != nil {
			return nil, fmt.Errorf("bench: training step %s: %w", c.Name(), err)
		}
		results = append(results, r)
	}
	return results, nil
}

// StepProblem is the synthetic training problem of a case: three snapshots
// of Pairs points in R^D, the first uniform on [−4, 4]^D and each next one
// the last shrunk by 10% towards 0 plus N(0, 0.1²) noise, coupled point to
// point (as an exact plan between equal sizes is: weight 1/Pairs, τ 1), with
// the score of a standard normal density, s(y) = −y. It holds 2·Pairs pairs.
func StepProblem(c StepCase) (*engine.Problem, error) {
	if c.Pairs < 1 || c.D < 1 || c.Samples < 1 || c.Steps < 1 {
		return nil, fmt.Errorf("bench: training-step case needs Pairs, D, Samples, Steps ≥ 1, got %d, %d, %d, %d", c.Pairs, c.D, c.Samples, c.Steps)
	}
	const transitions = 2
	rng := rand.New(rand.NewPCG(c.Seed, 0x747261696e2d7374))
	n, d := c.Pairs, c.D
	snap := zoo.Uniform(rng, n, d)
	p := &engine.Problem{D: d, Populations: [][]float64{snap}, MeanInterval: 1}
	pairs := &couplings.Couplings{D: d, Times: []float64{0, 1, 2}}
	for k := range transitions {
		next := make([]float64, n*d)
		for i, v := range snap {
			next[i] = 0.9*v + 0.1*rng.NormFloat64()
		}
		p.Populations = append(p.Populations, next)
		pairs.X, pairs.Y = append(pairs.X, snap...), append(pairs.Y, next...)
		for range n {
			pairs.W, pairs.Tau, pairs.K = append(pairs.W, 1/float64(n)), append(pairs.Tau, 1), append(pairs.K, int64(k))
		}
		snap = next
	}
	pairs.Score = make([]float64, len(pairs.Y))
	for i, y := range pairs.Y {
		pairs.Score[i] = -y
	}
	p.Pairs = pairs
	return p, nil
}

// stepBatch assembles the batch of the given pairs as the cpu backend does,
// drawing each pair's two sets of samples interaction samples with
// replacement from its target snapshot.
func stepBatch(p *engine.Problem, pairs []int, samples int, rng *rand.Rand) *networks.Batch {
	c, d := p.Pairs, p.D
	b := &networks.Batch{D: d, S: samples}
	for _, q := range pairs {
		b.X = append(b.X, c.X[q*d:(q+1)*d]...)
		b.Y = append(b.Y, c.Y[q*d:(q+1)*d]...)
		b.Score = append(b.Score, c.Score[q*d:(q+1)*d]...)
		b.W, b.Tau = append(b.W, c.W[q]), append(b.Tau, c.Tau[q])
	}
	for a := range b.Others {
		for _, q := range pairs {
			pop := p.Populations[c.K[q]+1]
			for range samples {
				j := rng.IntN(len(pop) / d)
				b.Others[a] = append(b.Others[a], pop[j*d:(j+1)*d]...)
			}
		}
	}
	return b
}

func compareStepCase(c StepCase, rounds int) (StepResult, error) {
	// A network's loss workspace is released by a cleanup that runs after
	// the collection that finds the network unreachable: collect the
	// previous case's now, so that it is gone by the first heap measurement.
	runtime.GC()
	res := StepResult{Case: c, Threads: runtime.GOMAXPROCS(0)}
	p, err := StepProblem(c)
	if err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x62617463682d7374))
	pairs := rng.Perm(p.Pairs.Len())[:c.Pairs] // mixes the two transitions
	net, err := networks.NewNet("jkonet-star", c.D, c.Seed)
	if err != nil {
		return res, err
	}

	// The first step of both sides on one batch.
	batch := stepBatch(p, pairs, c.Samples, rng)
	grad := make([]float64, len(net.Params))
	loss, err := net.LossGrad(batch, grad)
	if err != nil {
		return res, err
	}
	res.GoLoss, res.GradNorm = loss.Value, norm(grad)
	settings := engine.DefaultSettings()
	settings.Samples, settings.Seed = c.Samples, c.Seed
	args := map[string]any{
		"d": c.D, "hidden": networks.HiddenWidth, "samples": c.Samples, "lr": settings.LR, "clip": settings.Clip,
		"threads": res.Threads, "warmup": stepWarmup, "steps": c.Steps,
	}
	arrays := map[string][]float64{
		"params": slices.Clone(net.Params), "x": batch.X, "y": batch.Y, "score": batch.Score,
		"w": batch.W, "tau": batch.Tau, "others0": batch.Others[0], "others1": batch.Others[1],
	}

	// Go: the cpu backend's full steps, fresh interaction samples each.
	reg, _, err := engine.Resolve("cpu")
	if err != nil {
		return res, err
	}
	backend, err := reg.New(net, p, settings)
	if err != nil {
		return res, err
	}
	if err := backend.SetOrder(pairs); err != nil {
		return res, err
	}
	stepper := &goStepper{backend: backend, pairs: len(pairs)}
	if err := stepper.run(make([]float64, stepWarmup)); err != nil {
		return res, err
	}
	res.HeapBefore = stepper.liveHeap()
	goSide := func() ([]float64, error) { return stepper.timed(c.Steps) }
	torchSide := func() ([]float64, error) {
		var peer struct {
			Loss    float64   `json:"loss"`
			Grad    []float64 `json:"grad"`
			Seconds []float64 `json:"seconds"`
			Threads int       `json:"threads"`
		}
		if err := RunPeer(trainTorchScript, args, arrays, &peer); err != nil {
			return nil, err
		}
		if peer.Threads != res.Threads {
			return nil, fmt.Errorf("PyTorch ran %d threads, want %d", peer.Threads, res.Threads)
		}
		if len(peer.Grad) != len(grad) {
			return nil, fmt.Errorf("PyTorch gradient has %d values, want %d", len(peer.Grad), len(grad))
		}
		res.TorchLoss = peer.Loss
		res.RelLossDiff = math.Abs(res.GoLoss-peer.Loss) / math.Abs(peer.Loss)
		for i, g := range grad {
			peer.Grad[i] -= g
		}
		res.RelGradDiff = norm(peer.Grad) / res.GradNorm
		return peer.Seconds, nil
	}
	if res.GoSeconds, res.TorchSeconds, err = alternate(rounds, goSide, torchSide); err != nil {
		return res, err
	}
	res.Ratio = res.GoSeconds / res.TorchSeconds
	// Two more windows of steps, so that allocations made once by the
	// runtime (or anything else in the process) during one window do not
	// read as the steps' own: those come back in every window.
	for range 2 {
		if _, err := stepper.timed(c.Steps); err != nil {
			return res, err
		}
	}
	res.HeapAfter = stepper.liveHeap()
	runtime.KeepAlive(arrays) // live in both heap measurements, as the backend is
	res.AllocsPerStep, res.AllocBytesPerStep = stepper.leastMallocs, stepper.leastBytes
	return res, nil
}

// goStepper runs the cpu backend's steps on a fixed set of pairs, numbering
// the steps on, and counts the heap allocations of its timed steps: per
// step, in the window of timed steps that allocated least. ReadMemStats
// counts every goroutine's allocations, so a window can catch the runtime's
// own; the steps' allocations recur in every window.
type goStepper struct {
	backend                  engine.Backend
	pairs                    int // each step takes the first pairs of the backend's order
	step                     uint64
	mem                      runtime.MemStats
	windows                  int
	leastMallocs, leastBytes float64
}

// run takes len(times) steps and writes their times in seconds.
func (g *goStepper) run(times []float64) error {
	for i := range times {
		start := time.Now()
		if err := g.backend.Step(0, g.pairs, g.step); err != nil {
			return err
		}
		times[i] = time.Since(start).Seconds()
		g.step++
	}
	return nil
}

// timed takes n steps, counting their allocations, and returns their times.
func (g *goStepper) timed(n int) ([]float64, error) {
	times := make([]float64, n)
	runtime.ReadMemStats(&g.mem)
	mallocs, allocBytes := g.mem.Mallocs, g.mem.TotalAlloc
	err := g.run(times)
	runtime.ReadMemStats(&g.mem)
	perStep, bytesPerStep := float64(g.mem.Mallocs-mallocs)/float64(n), float64(g.mem.TotalAlloc-allocBytes)/float64(n)
	if g.windows == 0 || bytesPerStep < g.leastBytes {
		g.leastMallocs, g.leastBytes = perStep, bytesPerStep
	}
	g.windows++
	return times, err
}

// liveHeap collects garbage and returns the bytes of live heap objects.
func (g *goStepper) liveHeap() uint64 {
	runtime.GC()
	runtime.ReadMemStats(&g.mem)
	return g.mem.HeapAlloc
}

// norm is the Euclidean norm of v.
func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
