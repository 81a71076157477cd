package cuda

import (
	"context"
	"os"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// The per-epoch budget issue 17 sets for the graph path (an epoch captured
// as one CUDA graph): at most this many launches and synchronisations an
// epoch whatever the number of steps, and this many bytes uploaded a pair.
// TestEpochBudget holds today's costs exactly and logs them against these.
const (
	targetLaunchesPerEpoch = 2
	targetSyncsPerEpoch    = 1
	targetUploadPerPair    = 16
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

// TestEpochBudget: an epoch of training costs, today, one launch per kernel
// per step (5 kernels a step for the potential, 8 with an interaction
// network), one synchronisation (the loss's read), one upload of the
// epoch's order (4 bytes a pair), its interaction-row prefix sums (8 bytes
// a pair and 8, with interaction only) and a 32-byte record a step and one
// spare, the 13 accumulators read back and cleared: the difference between 2 epochs and 1, from the
// emulator's counters (JKONET_EMU_STATS). 10^3 pairs here;
// JKONET_BUDGET_LARGE=1 adds 10^5 for the potential.
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
			one := epochCost(t, dev, c.kind, p, s, 1)
			two := epochCost(t, dev, c.kind, p, s, 2)
			per := func(f func(driver.EmulatorStats) uint64) uint64 { return f(two) - f(one) }
			launches := per(func(s driver.EmulatorStats) uint64 { return s.LaunchesTotal })
			syncs := per(func(s driver.EmulatorStats) uint64 { return s.Synchronizations })
			up := per(func(s driver.EmulatorStats) uint64 { return s.Bytes.HtoD })
			down := per(func(s driver.EmulatorStats) uint64 { return s.Bytes.DtoH })
			perStep := 0
			for _, k := range c.kernels {
				want := uint64(steps)
				if (k == "mlp_forward_f32" || k == "mlp_backward_f32") && c.kind != "potential" {
					want *= 2 // V and U
				}
				if got := per(func(s driver.EmulatorStats) uint64 { return s.Launches[k] }); got != want {
					t.Errorf("%s, %d pairs: %d launches of %s an epoch, want %d", c.kind, pairs, got, k, want)
				}
				perStep += int(want) / steps
			}
			wantUp := uint64(c.perPairUploaded*pairs + stepRecordBytes*(steps+1)) // and a record a step, one spare
			if c.kind != "potential" {
				wantUp += 8 // the prefix sums' leading 0
			}
			if launches != uint64(perStep*steps) || syncs != 1 || up != wantUp || down != 8*accCount || two.GraphLaunches != 0 {
				t.Errorf("%s, %d pairs: an epoch costs %d launches, %d synchronisations, %d bytes up, %d down, %d graph launches; want %d, 1, %d, %d, 0",
					c.kind, pairs, launches, syncs, up, down, two.GraphLaunches, perStep*steps, wantUp, 8*accCount)
			}
			t.Logf("%s, %d pairs, %d steps an epoch: %d launches (target ≤ %d), %d synchronisation (target ≤ %d), %.2f bytes a pair uploaded (target ≤ %d)",
				c.kind, pairs, steps, launches, targetLaunchesPerEpoch, syncs, targetSyncsPerEpoch, float64(up)/float64(pairs), targetUploadPerPair)
		}
	}
}
