package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// GPUCase is one row of the CPU-vs-GPU table: an epoch of Pairs coupling
// pairs in R^D in batches of Batch, for the potential model (Targets 0) or
// for potential-interaction with the exact interaction mean over a target
// population of Targets points.
type GPUCase struct {
	Pairs   int    `json:"pairs"`
	D       int    `json:"d"`
	Targets int    `json:"targets"`
	Batch   int    `json:"batch"`
	Seed    uint64 `json:"seed"`
}

// Model is the network variant of the case.
func (c GPUCase) Model() string {
	if c.Targets > 0 {
		return "potential-interaction"
	}
	return "potential"
}

// Name is a short label such as "P100000 d5 exact U over 1000".
func (c GPUCase) Name() string {
	s := fmt.Sprintf("P%d d%d", c.Pairs, c.D)
	if c.Targets > 0 {
		return s + fmt.Sprintf(" U exact over %d", c.Targets)
	}
	return s + " V only"
}

// GPUCases are the cases of the table: every pair count in d for every
// dimension, potential-only and with the exact interaction over each target
// population size; batches of 250 pairs.
func GPUCases(pairs, dims, targets []int) []GPUCase {
	var cases []GPUCase
	for _, t := range append([]int{0}, targets...) {
		for _, d := range dims {
			for _, p := range pairs {
				cases = append(cases, GPUCase{Pairs: p, D: d, Targets: t, Batch: engine.DefaultSettings().BatchSize, Seed: 1})
			}
		}
	}
	return cases
}

// The default table: 10³ to 10⁶ pairs, d = 2, 5, 50, the exact interaction
// over 10³ and 10⁴ targets.
var (
	DefaultGPUPairs   = []int{1_000, 10_000, 100_000, 1_000_000}
	DefaultGPUDims    = []int{2, 5, 50}
	DefaultGPUTargets = []int{1_000, 10_000}
)

// GPUProblem is a case's data: a source snapshot of Pairs points uniform on
// [−4, 4]^D and a target snapshot of Targets points (Pairs for the potential
// model), each pair's target a target point and its source 0.9 times it plus
// N(0, 0.1²) noise, weight 1/Pairs, τ 1, score −y.
func GPUProblem(c GPUCase) *engine.Problem {
	rng := rand.New(rand.NewPCG(c.Seed, 0x6770752d62656e63))
	n, d := c.Targets, c.D
	if n == 0 {
		n = c.Pairs
	}
	targets := zoo.Uniform(rng, n, d)
	pairs := &couplings.Couplings{D: d, Times: []float64{0, 1}, X: make([]float64, c.Pairs*d), Y: make([]float64, c.Pairs*d),
		W: make([]float64, c.Pairs), K: make([]int64, c.Pairs), Tau: make([]float64, c.Pairs), Score: make([]float64, c.Pairs*d)}
	for i := range c.Pairs {
		y := targets[(i%n)*d : (i%n+1)*d]
		copy(pairs.Y[i*d:], y)
		for k, v := range y {
			pairs.X[i*d+k] = 0.9*v + 0.1*rng.NormFloat64()
			pairs.Score[i*d+k] = -v
		}
		pairs.W[i], pairs.Tau[i] = 1/float64(c.Pairs), 1
	}
	return &engine.Problem{D: d, Pairs: pairs, Populations: [][]float64{pairs.X, targets}, MeanInterval: 1}
}

// GPURun is one device's time on a case: the time of an epoch (the time per
// step, timed for at least the budget or a whole epoch, times the epoch's
// steps, plus its shuffle and order upload; Projected when fewer steps than
// an epoch's were timed) and the pairs it trains per second.
type GPURun struct {
	Device         string  `json:"device"`
	Precision      string  `json:"precision"`
	EpochSeconds   float64 `json:"epoch_seconds"`
	StepSeconds    float64 `json:"step_seconds"`
	PairsPerSecond float64 `json:"pairs_per_second"`
	StepsTimed     int     `json:"steps_timed"`
	Projected      bool    `json:"projected"`
}

// GPUResult compares the CPU and the GPU on a case; GPU is nil without a
// GPU, and Ratio is the GPU's epoch time over the CPU's.
type GPUResult struct {
	Case  GPUCase `json:"case"`
	Model string  `json:"model"`
	CPU   *GPURun `json:"cpu"`
	GPU   *GPURun `json:"gpu,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
}

// String formats a result as one table row.
func (r GPUResult) String() string {
	run := func(g *GPURun) string {
		if g == nil {
			return fmt.Sprintf("%28s", "—")
		}
		mark := " "
		if g.Projected {
			mark = "*"
		}
		return fmt.Sprintf("%10.4fs%s %10.3g pairs/s", g.EpochSeconds, mark, g.PairsPerSecond)
	}
	s := fmt.Sprintf("%-28s cpu %s  gpu %s", r.Case.Name(), run(r.CPU), run(r.GPU))
	if r.Ratio > 0 {
		s += fmt.Sprintf("  gpu/cpu %.3g", r.Ratio)
	}
	return s
}

// GPUReport is what bench --what gpu prints and writes.
type GPUReport struct {
	Date      string           `json:"date"`
	Device    string           `json:"device,omitempty"` // the GPU, or empty
	NoGPU     string           `json:"no_gpu,omitempty"` // why there is none
	Threads   int              `json:"cpu_threads"`      // GOMAXPROCS of the CPU backend
	FirstStep *FirstStep       `json:"first_step,omitempty"`
	Epochs    []GPUResult      `json:"epochs"`
	Roofline  []RooflineResult `json:"roofline,omitempty"`
	Graph     []GraphResult    `json:"launch_paths,omitempty"`
}

// GPUOptions are the knobs of CompareGPU.
type GPUOptions struct {
	Budget  time.Duration // timed steps per device and case: at least this long (or a whole epoch), at least one step
	Repeats int           // rounds of timed steps; the median time per step is reported
	GPU     *Accelerator  // the accelerated side; nil: the CPU half only
	// Progress, if not nil, receives each case's result as soon as it is
	// measured, and FirstStepProgress the time to first step.
	Progress          func(GPUResult)
	FirstStepProgress func(*FirstStep)
}

// Accelerator is the accelerated side of CompareGPU: a registered backend
// that --device auto prefers to the CPU (ResolveGPU), and its device.
type Accelerator struct {
	Backend engine.Registration
	Device  string // the device in one line (Backend.Available)
}

// CompareGPU times, when o.GPU is set, the process's first training step
// on the accelerated backend (which must come first: FirstStep), an epoch of
// every case on the CPU backend and on the accelerated one (float32), and a
// step of each variant and precision against the roofline model on its
// device (RooflineCases), and epochs by either launch path (GraphCases).
// Both sides start from the same network.
// A CPU step costs the same whatever the number of pairs, so the CPU's step
// is timed once per model, dimension and target population, and its epochs
// are that time per step times their steps plus their own shuffle.
func CompareGPU(cases []GPUCase, o GPUOptions) (*GPUReport, error) {
	rep := &GPUReport{Date: time.Now().UTC().Format("2006-01-02"), Threads: runtime.GOMAXPROCS(0)}
	if o.GPU != nil {
		rep.Device = o.GPU.Device
	}
	if o.GPU != nil {
		var err error
		if rep.FirstStep, err = TimeFirstStep(o.GPU); err != nil {
			return nil, fmt.Errorf("bench: the first step: %w", err)
		}
		if o.FirstStepProgress != nil {
			o.FirstStepProgress(rep.FirstStep)
		}
	}
	cpuSteps := map[GPUCase]*GPURun{} // by the case with Pairs 0
	for _, c := range cases {
		p := GPUProblem(c)
		res := GPUResult{Case: c, Model: c.Model()}
		key := c
		key.Pairs = 0
		var err error
		if res.CPU, err = timeEpoch(c, p, nil, cpuSteps[key], o); err != nil {
			return nil, fmt.Errorf("bench: %s on the CPU: %w", c.Name(), err)
		}
		if _, ok := cpuSteps[key]; !ok {
			cpuSteps[key] = res.CPU
		}
		if o.GPU != nil {
			if res.GPU, err = timeEpoch(c, p, o.GPU, nil, o); err != nil {
				return nil, fmt.Errorf("bench: %s on the GPU: %w", c.Name(), err)
			}
			res.Ratio = res.GPU.EpochSeconds / res.CPU.EpochSeconds
		}
		rep.Epochs = append(rep.Epochs, res)
		if o.Progress != nil {
			o.Progress(res)
		}
	}
	if o.GPU == nil {
		return rep, nil
	}
	for _, c := range RooflineCases(cases) {
		r, err := timeRoofline(c, o)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", c.Name(), err)
		}
		rep.Roofline = append(rep.Roofline, r)
	}
	for _, c := range GraphCases(cases) {
		r, err := timeLaunchPaths(c, o)
		if err != nil {
			return nil, fmt.Errorf("bench: %s by launch path: %w", c.Name(), err)
		}
		rep.Graph = append(rep.Graph, r)
	}
	return rep, nil
}

// newBackend builds the case's model on a device: the CPU backend, or the
// accelerated backend gpu (float32); both take the exact interaction mean.
func newBackend(c GPUCase, p *engine.Problem, gpu *Accelerator) (engine.Backend, error) {
	return newVariant(c.Model(), engine.Float32, c, p, gpu)
}

// newVariant builds model kind on a device: the CPU backend, or the
// accelerated backend gpu in precision; both take the exact interaction
// mean.
func newVariant(kind, precision string, c GPUCase, p *engine.Problem, gpu *Accelerator) (engine.Backend, error) {
	net, err := networks.NewNet(kind, c.D, c.Seed)
	if err != nil {
		return nil, err
	}
	s := engine.DefaultSettings()
	s.BatchSize, s.Seed, s.Samples = c.Batch, c.Seed, 0
	if gpu == nil {
		reg, _, err := engine.Resolve(cpuName)
		if err != nil {
			return nil, err
		}
		return reg.New(net, p, s)
	}
	s.Precision = precision
	return gpu.Backend.New(net, p, s)
}

// timeEpoch times an epoch of the case on gpu (nil: the CPU). On the GPU:
// whole epochs, the first untimed (timeWholeEpochs), as train runs them, so
// that the graph path replays its graph. On the CPU: the shuffle and the
// order upload, a warm-up step, then rounds of steps, each synchronised by
// Loss, until the budget is spent or the epoch is done (timeSteps); with
// steps set, the time per step is taken from it instead.
func timeEpoch(c GPUCase, p *engine.Problem, gpu *Accelerator, steps *GPURun, o GPUOptions) (*GPURun, error) {
	b, err := newBackend(c, p, gpu)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	run := &GPURun{Device: cpuName, Precision: b.Settings().Precision}
	order := rand.New(rand.NewPCG(c.Seed, 1)).Perm(c.Pairs)
	epochSteps := (c.Pairs + c.Batch - 1) / c.Batch
	if gpu != nil {
		run.Device = gpu.Backend.Name
		if run.EpochSeconds, err = timeWholeEpochs(b, c, order, o.Repeats); err != nil {
			return nil, err
		}
		run.StepSeconds, run.StepsTimed = run.EpochSeconds/float64(epochSteps), epochSteps*max(o.Repeats, 1)
		run.PairsPerSecond = float64(c.Pairs) / run.EpochSeconds
		return run, nil
	}
	start := time.Now()
	if err := b.SetOrder(order); err != nil {
		return nil, err
	}
	orderSeconds := time.Since(start).Seconds()
	if steps != nil {
		run.StepSeconds, run.StepsTimed = steps.StepSeconds, steps.StepsTimed
	} else if run.StepSeconds, run.StepsTimed, err = timeSteps(b, c, epochSteps, o); err != nil {
		return nil, err
	}
	run.EpochSeconds = run.StepSeconds*float64(epochSteps) + orderSeconds
	run.PairsPerSecond = float64(c.Pairs) / run.EpochSeconds
	run.Projected = run.StepsTimed < epochSteps
	return run, nil
}

// timeWholeEpochs returns the median time of an epoch of order on b over
// rounds epochs (at least one) after a first untimed one (where the graph
// path captures its graph): each as engine.Train runs it but its shuffle,
// the order uploaded, every step queued with its number, the loss read.
func timeWholeEpochs(b engine.Backend, c GPUCase, order []int, rounds int) (float64, error) {
	steps := (c.Pairs + c.Batch - 1) / c.Batch
	var times []float64
	for r := range max(rounds, 1) + 1 {
		start := time.Now()
		if err := b.SetOrder(order); err != nil {
			return 0, err
		}
		for k := range steps {
			if err := b.Step(k*c.Batch, min((k+1)*c.Batch, c.Pairs), uint64(r*steps+k)); err != nil {
				return 0, err
			}
		}
		if _, err := b.Loss(); err != nil {
			return 0, err
		}
		if r > 0 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	return median(times), nil
}

// timeSteps returns the median time per step over o.Repeats rounds of steps
// of b's order, after a warm-up step, and the steps timed.
func timeSteps(b engine.Backend, c GPUCase, epochSteps int, o GPUOptions) (perStep float64, timed int, err error) {
	step := 0
	next := func() error {
		k := step % epochSteps
		err := b.Step(k*c.Batch, min((k+1)*c.Batch, c.Pairs), uint64(step))
		step++
		return err
	}
	if err := next(); err != nil { // warm-up
		return 0, 0, err
	}
	if _, err := b.Loss(); err != nil {
		return 0, 0, err
	}
	repeats := max(o.Repeats, 1)
	var times []float64
	for range repeats {
		start, n := time.Now(), 0
		for n == 0 || (time.Since(start) < o.Budget/time.Duration(repeats) && timed+n < epochSteps) {
			if err := next(); err != nil {
				return 0, 0, err
			}
			if n++; n%64 == 0 { // keep the device's queue short
				if _, err := b.Loss(); err != nil {
					return 0, 0, err
				}
			}
		}
		if _, err := b.Loss(); err != nil {
			return 0, 0, err
		}
		times = append(times, time.Since(start).Seconds()/float64(n))
		timed += n
	}
	return median(times), timed, nil
}

// Lines formats the report as the table bench prints.
func (r *GPUReport) Lines() []string {
	var lines []string
	if r.Device != "" {
		lines = append(lines, "GPU: "+r.Device)
	} else {
		lines = append(lines, "no GPU ("+r.NoGPU+"): the CPU half only")
	}
	if r.FirstStep != nil {
		lines = append(lines, r.FirstStep.String())
	}
	lines = append(lines, fmt.Sprintf("epoch times in batches of 250 pairs (CPU: %d threads, float64, * = steps timed for the budget and scaled to the epoch; GPU: float32, the median whole epoch after an untimed one)", r.Threads))
	for _, e := range r.Epochs {
		lines = append(lines, "  "+e.String())
	}
	if len(r.Roofline) > 0 {
		lines = append(lines, "steps against the roofline (model FLOPs, those of the MLP kernels' products, over the median step; the roofline is the least time of the step's kernels at the peaks in the step's precision and the memory bandwidth)")
		for _, f := range r.Roofline {
			lines = append(lines, "  "+f.String())
		}
	}
	if len(r.Graph) > 0 {
		lines = append(lines, fmt.Sprintf("epochs by launch path (float32; the median of %d epochs after the first; counts where the driver keeps them, the emulator)", graphEpochs-1))
		for _, g := range r.Graph {
			lines = append(lines, "  "+g.String())
		}
	}
	return lines
}

// String is the report as text.
func (r *GPUReport) String() string { return strings.Join(r.Lines(), "\n") }
