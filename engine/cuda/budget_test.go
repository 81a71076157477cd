package cuda

import (
	"context"
	"os"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// The per-epoch budget of issue 17: at most this many launches (graph
// launches and kernel launches) and synchronisations an epoch whatever the
// number of steps, and at most this many bytes uploaded a pair.
const (
	budgetLaunchesPerEpoch = 2
	budgetSyncsPerEpoch    = 1
	budgetUploadPerPair    = 16
)

// epochCost is what training costs in driver calls, from the emulator's
// counters: Train for epochs epochs on a fresh backend, counted from after
// New (the data's upload) to the end.
func epochCost(t *testing.T, dev *Device, kind string, p *engine.Problem, s engine.Settings, epochs int) driver.EmulatorStats {
	t.Helper()
	s.Epochs = epochs
	b := newOn(t, dev, kind, p, s)
	drv := dev.ctx.Driver()
	if _, err := drv.Stats(true); err != nil {
		t.Fatal(err)
	}
	if err := engine.Train(context.Background(), b, p, s, engine.Observer{}); err != nil {
		t.Fatal(err)
	}
	st, err := drv.Stats(true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestEpochBudget: an epoch of training costs, on the graph path, one graph
// launch holding every kernel of every step (5 kernels a step for the
// potential, 8 with an interaction network), no kernel launch, one
// synchronisation (the loss's read), one upload of the epoch's order (4
// bytes a pair), its interaction-row prefix sums (8 bytes a pair and 8,
// with interaction only) and a 32-byte record a step and a spare one, and
// the 13 accumulators read back and cleared; the context is made current
// no more than a few times an epoch (a thread Go has not run the backend
// on before), not at every driver call. On the per-kernel path
// (JKONET_CUDA_GRAPH=0) the same, but each kernel of each step is its own
// launch. The difference between 2 epochs and 1, from the emulator's
// counters (JKONET_EMU_STATS). 10^3 pairs here; JKONET_BUDGET_LARGE=1 adds
// 10^5 for the potential.
func TestEpochBudget(t *testing.T) {
	dev := emulatedDevice(t, "the counters are the emulator's")
	sizes := []int{500} // pairs per snapshot pair: 2n pairs
	if os.Getenv("JKONET_BUDGET_LARGE") == "1" {
		sizes = append(sizes, 50000)
	}
	for _, n := range sizes {
		for _, c := range []struct {
			kind            string
			samples         int
			kernels         []string
			perPairUploaded int
		}{
			{"potential", 0, []string{"mlp_forward_f32", "residuals_f32", "mlp_backward_f32", "reduce_partials", "finish_step_f32"}, 4},
			{"jkonet-star", 2, []string{"mlp_forward_f32", "pair_means_f32", "residuals_f32", "mlp_backward_f32", "reduce_partials", "finish_step_f32"}, 12},
		} {
			if n > 500 && c.kind != "potential" {
				continue // the interaction rows of 10^5 pairs take minutes on the emulator
			}
			p := parityProblem(n, 2, 5)
			pairs := p.Pairs.Len()
			s := engine.DefaultSettings()
			s.BatchSize, s.Samples, s.Precision = 250, c.samples, engine.Float32
			steps := (pairs + s.BatchSize - 1) / s.BatchSize
			wantUp := uint64(c.perPairUploaded*pairs + stepRecordBytes*(steps+1))
			if c.kind != "potential" {
				wantUp += 8 // the prefix sums' leading 0
			}
			for _, graph := range []bool{true, false} {
				if graph {
					t.Setenv(GraphEnv, "")
				} else {
					t.Setenv(GraphEnv, "0")
				}
				one := epochCost(t, dev, c.kind, p, s, 1)
				two := epochCost(t, dev, c.kind, p, s, 2)
				per := func(f func(driver.EmulatorStats) uint64) uint64 { return f(two) - f(one) }
				launches := per(func(s driver.EmulatorStats) uint64 { return s.LaunchesTotal })
				graphs := per(func(s driver.EmulatorStats) uint64 { return s.GraphLaunches })
				syncs := per(func(s driver.EmulatorStats) uint64 { return s.Synchronizations })
				up := per(func(s driver.EmulatorStats) uint64 { return s.Bytes.HtoD })
				down := per(func(s driver.EmulatorStats) uint64 { return s.Bytes.DtoH })
				// Signed: a goroutine that lands on a new OS thread makes the
				// context current there once, in either run, so the
				// difference can fall below 0 (it was seen at −1).
				current := int64(two.SetCurrent) - int64(one.SetCurrent)
				perStep := 0
				for _, k := range c.kernels {
					want := uint64(steps)
					if (k == "mlp_forward_f32" || k == "mlp_backward_f32") && c.kind != "potential" {
						want *= 2 // V and U
					}
					ran := func(s driver.EmulatorStats) uint64 { return s.Launches[k] }
					if graph {
						ran = func(s driver.EmulatorStats) uint64 { return s.GraphKernels[k] }
					}
					if got := per(ran); got != want {
						t.Errorf("%s, %d pairs, graph %v: %s ran %d times an epoch, want %d", c.kind, pairs, graph, k, got, want)
					}
					perStep += int(want) / steps
				}
				path, wantLaunches, wantGraphs := "per kernel", uint64(perStep*steps), uint64(0)
				if graph {
					path, wantLaunches, wantGraphs = "graph", 0, 1
				}
				if launches != wantLaunches || graphs != wantGraphs || syncs != 1 || up != wantUp || down != 8*accCount {
					t.Errorf("%s, %d pairs, %s: an epoch costs %d kernel launches, %d graph launches, %d synchronisations, %d bytes up, %d down; want %d, %d, 1, %d, %d",
						c.kind, pairs, path, launches, graphs, syncs, up, down, wantLaunches, wantGraphs, wantUp, 8*accCount)
				}
				if graph && (launches+graphs > budgetLaunchesPerEpoch || syncs > budgetSyncsPerEpoch || up > budgetUploadPerPair*uint64(pairs)) {
					t.Errorf("%s, %d pairs: over the budget of %d launches, %d synchronisation and %d bytes a pair an epoch",
						c.kind, pairs, budgetLaunchesPerEpoch, budgetSyncsPerEpoch, budgetUploadPerPair)
				}
				if current > 4 {
					t.Errorf("%s, %d pairs, %s: the context was made current %d times an epoch, want a few at most (once a new OS thread)", c.kind, pairs, path, current)
				}
				t.Logf("%s, %d pairs, %d steps an epoch, %s: %d launches (%d graph), %d synchronisation, %.2f bytes a pair uploaded, context made current %d times (budget ≤ %d, ≤ %d, ≤ %d)",
					c.kind, pairs, steps, path, launches+graphs, graphs, syncs, float64(up)/float64(pairs), current,
					budgetLaunchesPerEpoch, budgetSyncsPerEpoch, budgetUploadPerPair)
			}
		}
	}
}
