package cuda

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// stagedDevice is a device collective for tests: it sums a device buffer
// through the host with an in-process group, so the backend's NCCL path
// (flag upload, in-place device sum, flag read-back) runs on the emulator.
type stagedDevice struct {
	collective.Collective
	ctx *driver.Context
}

func (s stagedDevice) AllReduceSumDevice(ptr uint64, n int, stream uintptr) error {
	buf := make([]float64, n)
	if err := driver.CopyFromDevice(s.ctx, buf, driver.DevicePtr(ptr)); err != nil {
		return err
	}
	if err := s.AllReduceSum(buf); err != nil {
		return err
	}
	return driver.CopyToDevice(s.ctx, driver.DevicePtr(ptr), buf)
}

// TestDataParallelMatchesOneProcess: 2 and 3 ranks on one device, summing
// through the host (MPI's path) or in device memory (NCCL's), train in
// float64 the model that one unjoined backend trains, to 1e-7 relative,
// every rank with the same bits, with subsampled and exact interaction
// means; 3 ranks leave a rank without pairs in the last step. On the
// emulator it runs in every thread order.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		for _, samples := range []int{2, 0} {
			p := parityProblem(31, 2, 8) // 62 pairs: 4 steps of 20, the last of 2
			s := engine.DefaultSettings()
			s.Epochs, s.BatchSize, s.Samples, s.Precision, s.LR = 2, 20, samples, engine.Float64, 1e-2
			one := newOn(t, dev, "jkonet-star", p, s)
			if err := engine.Train(context.Background(), one, p, s, engine.Observer{}); err != nil {
				t.Fatal(err)
			}
			want, err := one.State()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				size   int
				device bool
			}{{2, false}, {3, true}} {
				states := trainRanks(t, dev, p, s, c.size, c.device)
				worst := 0.0
				for i := range want.Params {
					worst = max(worst, math.Abs(states[0].Params[i]-want.Params[i])/max(math.Abs(want.Params[i]), 1e-3))
				}
				if worst > 1e-7 || states[0].Steps != want.Steps {
					t.Errorf("%s, samples %d, %d ranks (device sum %v): parameters differ by %.3g relative after %d steps (one process: %d)",
						od.Label(), samples, c.size, c.device, worst, states[0].Steps, want.Steps)
				}
				t.Logf("%s, samples %d, %d ranks (device sum %v): worst relative difference %.2g", od.Label(), samples, c.size, c.device, worst)
			}
		}
	}
}

// trainRanks trains size joined backends on dev concurrently and returns
// their states, checking that the ranks agree bit for bit.
func trainRanks(t *testing.T, dev *Device, p *engine.Problem, s engine.Settings, size int, device bool) []*engine.State {
	t.Helper()
	states := make([]*engine.State, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r, g := range collectivetest.Group(size) {
		b := newOn(t, dev, "jkonet-star", p, s)
		var group collective.Group = g
		if device {
			group = stagedDevice{g, dev.ctx}
		}
		if err := b.(engine.Parallel).Join(group, nil); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[r] = engine.Train(context.Background(), b, p, s, engine.Observer{}); errs[r] == nil {
				states[r], errs[r] = b.State()
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		for i := range states[r].Params {
			if states[r].Params[i] != states[0].Params[i] {
				t.Fatalf("rank %d: parameter %d is %v, rank 0 has %v", r, i, states[r].Params[i], states[0].Params[i])
			}
		}
	}
	return states
}

// TestRanksLaunchSegments: a data-parallel rank launches each step as two
// graphs around its sum over the ranks (its gradient, then finish_step),
// captured in the first epoch, and no kernel on its own; with
// JKONET_CUDA_GRAPH=0 it launches each kernel and no graph.
func TestRanksLaunchSegments(t *testing.T) {
	dev := emulatedDevice(t, "the counters are the emulator's")
	drv := dev.ctx.Driver()
	p := parityProblem(31, 2, 8) // 62 pairs: 4 steps of 20, the last of 2
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples, s.Precision = 2, 20, 2, engine.Float64
	const ranks, steps = 2, 2 * 4
	for _, graph := range []bool{true, false} {
		if graph {
			t.Setenv(GraphEnv, "")
		} else {
			t.Setenv(GraphEnv, "0")
		}
		if _, err := drv.Stats(true); err != nil {
			t.Fatal(err)
		}
		trainRanks(t, dev, p, s, ranks, true)
		st, err := drv.Stats(true)
		if err != nil {
			t.Fatal(err)
		}
		wantGraphs, kernels := uint64(2*ranks*steps), st.LaunchesTotal == 0
		if !graph {
			wantGraphs, kernels = 0, st.LaunchesTotal >= 7*ranks*steps
		}
		if st.GraphLaunches != wantGraphs || !kernels {
			t.Errorf("graph %v: %d graph launches and %d kernel launches for %d steps of %d ranks; want %d graph launches",
				graph, st.GraphLaunches, st.LaunchesTotal, steps, ranks, wantGraphs)
		}
	}
}
