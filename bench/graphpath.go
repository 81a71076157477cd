package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
)

// GraphEnv is the environment variable by which the CUDA backend launches
// each kernel of a step (JKONET_CUDA_GRAPH=0) instead of an epoch as one
// CUDA graph.
const GraphEnv = "JKONET_CUDA_GRAPH"

// LaunchPath is one way of launching an epoch's steps, timed: the median
// time of an epoch after the first (engine.Train's, order upload and loss read included)
// and, where the driver counts them (the emulator), the kernel launches,
// graph launches and synchronisations an epoch.
type LaunchPath struct {
	Env          string  `json:"env"` // GraphEnv's value: "" unset, or "0"
	EpochSeconds float64 `json:"epoch_seconds"`
	// FirstEpochSeconds is the first epoch's time, the graph's capture and
	// instantiation included.
	FirstEpochSeconds float64 `json:"first_epoch_seconds"`
	Counted           bool    `json:"counted"`
	Launches          float64 `json:"launches_per_epoch,omitempty"`
	GraphLaunches     float64 `json:"graph_launches_per_epoch,omitempty"`
	Syncs             float64 `json:"synchronizations_per_epoch,omitempty"`
}

// GraphResult times the two launch paths side by side on a case, in
// float32: the default (an epoch as one graph launch where the backend
// builds it) and JKONET_CUDA_GRAPH=0 (a launch per kernel).
type GraphResult struct {
	Case  RooflineCase `json:"case"`
	Paths []LaunchPath `json:"paths"`
}

// String formats a result as one table row.
func (r GraphResult) String() string {
	s := fmt.Sprintf("%-48s", r.Case.Name())
	for _, p := range r.Paths {
		name := GraphEnv + " unset"
		if p.Env != "" {
			name = GraphEnv + "=" + p.Env
		}
		s += fmt.Sprintf("  %s: %9.3g s/epoch (first %.3g s)", name, p.EpochSeconds, p.FirstEpochSeconds)
		if p.Counted {
			s += fmt.Sprintf(" (%.0f launches, %.0f graph launches, %.0f syncs)", p.Launches, p.GraphLaunches, p.Syncs)
		}
	}
	if len(r.Paths) == 2 && r.Paths[1].EpochSeconds > 0 {
		s += fmt.Sprintf("  ratio %.3g", r.Paths[0].EpochSeconds/r.Paths[1].EpochSeconds)
	}
	return s
}

// graphEpochs are the epochs trained per path: the first, which may build
// the graph, is not timed.
const graphEpochs = 6

// GraphCases are the cases of the launch-path comparison: the potential
// over the most pairs up to 10^4 and jkonet-star over up to 10^3 with the
// exact mean over the smallest target population, in the first dimension,
// at the default batch.
func GraphCases(cases []GPUCase) []RooflineCase {
	var out []RooflineCase
	for _, c := range RooflineCases(cases) {
		if c.Precision == engine.Float32 && c.Batch == min(engine.DefaultSettings().BatchSize, c.Pairs) && c.Kind != "potential-interaction" {
			if c.Targets > 0 {
				c.Pairs = min(c.Pairs, rooflineLargeInteraction)
				c.Batch = min(c.Batch, c.Pairs)
			}
			out = append(out, c)
		}
	}
	return out
}

// launchCounter is a backend whose driver counts launches (engine/cuda on
// the emulator).
type launchCounter interface {
	EmulatorCounts() (launches, graphLaunches, syncs uint64, err error)
}

// timeLaunchPaths trains graphEpochs epochs of the case on the GPU with
// GraphEnv unset, then set to 0, each on a fresh backend, and takes the
// median epoch after the first.
func timeLaunchPaths(c RooflineCase, o GPUOptions) (GraphResult, error) {
	res := GraphResult{Case: c}
	p := GPUProblem(c.GPUCase)
	keep, had := os.LookupEnv(GraphEnv)
	defer func() {
		if had {
			os.Setenv(GraphEnv, keep)
		} else {
			os.Unsetenv(GraphEnv)
		}
	}()
	for _, env := range []string{"", "0"} {
		if env == "" {
			os.Unsetenv(GraphEnv)
		} else {
			os.Setenv(GraphEnv, env)
		}
		path, err := timeEpochs(c, p, o.GPU, env)
		if err != nil {
			return res, err
		}
		res.Paths = append(res.Paths, path)
	}
	return res, nil
}

// timeEpochs trains graphEpochs epochs on a fresh backend, timing each and
// reading the driver's counters at each epoch's end, where it has them.
func timeEpochs(c RooflineCase, p *engine.Problem, gpu *Accelerator, env string) (LaunchPath, error) {
	path := LaunchPath{Env: env}
	b, err := newVariant(c.Kind, c.Precision, c.GPUCase, p, gpu)
	if err != nil {
		return path, err
	}
	defer b.Close()
	s := b.Settings()
	s.Epochs = graphEpochs
	counter, counted := b.(launchCounter)
	var times []float64
	var first, last [3]uint64
	start := time.Now()
	err = engine.Train(context.Background(), b, p, s, engine.Observer{OnEpoch: func(r engine.EpochReport, _ engine.Backend) error {
		if r.Epoch > 1 {
			times = append(times, time.Since(start).Seconds())
		} else {
			path.FirstEpochSeconds = time.Since(start).Seconds()
		}
		start = time.Now()
		if counted {
			l, g, y, err := counter.EmulatorCounts()
			counted = err == nil
			if r.Epoch == 1 {
				first = [3]uint64{l, g, y}
			}
			last = [3]uint64{l, g, y}
		}
		return nil
	}})
	if err != nil {
		return path, err
	}
	path.EpochSeconds = median(times)
	if path.Counted = counted; counted {
		per := func(i int) float64 { return float64(last[i]-first[i]) / float64(graphEpochs-1) }
		path.Launches, path.GraphLaunches, path.Syncs = per(0), per(1), per(2)
	}
	return path, nil
}
