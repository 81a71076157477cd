package cuda

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// watchedStaged is stagedDevice with a watchdog (collective.Watcher),
// counting the stretches the backend arms it over, and checking that each
// is disarmed before the next.
type watchedStaged struct {
	stagedDevice
	waits *int
	armed *bool
	t     *testing.T
}

func (w watchedStaged) Arm() func() error {
	if *w.armed {
		w.t.Error("armed twice")
	}
	*w.waits, *w.armed = *w.waits+1, true
	return func() error {
		*w.armed = false
		return nil
	}
}

// TestDeviceSumWaitsOncePerEpoch: with a device collective (NCCL's path),
// the stop flag joins the sum of each epoch's last step only, so a rank
// waits for the GPU once an epoch: over 3 epochs of 4 steps each rank asks
// its stop request 3 times and arms the watchdog (collective.Watcher) over
// 3 stretches, one an epoch, disarmed at the epoch's end, and the
// ranks train what they train with a flag every step (TestDataParallel…).
// A stop asked during epoch 2 stops both ranks at the end of epoch 2
// (after step 8, the same on both), with context.Canceled.
func TestDeviceSumWaitsOncePerEpoch(t *testing.T) {
	for _, dev := range testDevices(t) {
		p := parityProblem(31, 2, 8) // 62 pairs: 4 steps of 20, the last of 2
		s := engine.DefaultSettings()
		s.Epochs, s.BatchSize, s.Samples, s.Precision, s.LR = 3, 20, 2, engine.Float64, 1e-2
		for _, stopAt := range []int{0, 2} { // the epoch in which rank 1 asks to stop (0: never)
			var wg sync.WaitGroup
			asked, waits, armed := make([]int, 2), make([]int, 2), make([]bool, 2)
			states, errs := make([]*engine.State, 2), make([]error, 2)
			for r, g := range collectivetest.Group(2) {
				b := newOn(t, dev, "jkonet-star", p, s)
				stop := func() bool {
					asked[r]++
					return r == 1 && stopAt > 0 && asked[r] >= stopAt
				}
				if err := b.(engine.Parallel).Join(watchedStaged{stagedDevice{g, dev.ctx}, &waits[r], &armed[r], t}, stop); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[r] = engine.Train(context.Background(), b, p, s, engine.Observer{})
					states[r], _ = b.State()
				}()
			}
			wg.Wait()
			wantEpochs, wantErr := 3, error(nil)
			if stopAt > 0 {
				wantEpochs, wantErr = stopAt, context.Canceled
			}
			for r := range 2 {
				if !errors.Is(errs[r], wantErr) || errs[r] != nil && wantErr == nil {
					t.Errorf("%s, stop in epoch %d: rank %d: %v, want %v", dev.Name, stopAt, r, errs[r], wantErr)
				}
				if asked[r] != wantEpochs || waits[r] != wantEpochs || armed[r] || states[r] == nil || states[r].Steps != uint64(4*wantEpochs) {
					t.Errorf("%s, stop in epoch %d: rank %d asked %d times, armed %d times (still armed: %v), stopped after %v; want %d, %d and step %d",
						dev.Name, stopAt, r, asked[r], waits[r], armed[r], states[r], wantEpochs, wantEpochs, 4*wantEpochs)
				}
			}
			if stopAt == 0 {
				want := trainRanks(t, dev, p, s, 2, true)
				for i := range want[0].Params {
					if states[0].Params[i] != want[0].Params[i] {
						t.Fatalf("%s: parameter %d is %v, the device sum without Watch gives %v", dev.Name, i, states[0].Params[i], want[0].Params[i])
					}
				}
			}
		}
	}
}

var _ collective.Watcher = watchedStaged{}

// abortableStaged is stagedDevice that aborts its in-process rank as
// ncclCommAbort would (collective.Aborter).
type abortableStaged struct{ stagedDevice }

func (a abortableStaged) Abort() error { return a.Collective.(collective.Aborter).Abort() }

// TestDeviceSumTimeout: rank 1 of 2 hangs after epoch 1; rank 0, whose
// device sums are bounded by a 300 ms --collective-timeout (engine.Watched,
// armed over each epoch), aborts its communicator and returns a
// *collective.TimeoutError within seconds instead of waiting forever.
func TestDeviceSumTimeout(t *testing.T) {
	for _, dev := range testDevices(t) {
		p := parityProblem(31, 2, 8)
		s := engine.DefaultSettings()
		s.Epochs, s.BatchSize, s.Samples, s.Precision, s.LR = 3, 20, 2, engine.Float64, 1e-2
		release := make(chan struct{})
		errs := make(chan error, 2)
		for r, g := range collectivetest.Group(2) {
			b := newOn(t, dev, "jkonet-star", p, s)
			group := engine.Watched(abortableStaged{stagedDevice{g, dev.ctx}}, 300*time.Millisecond)
			if err := b.(engine.Parallel).Join(group, nil); err != nil {
				t.Fatal(err)
			}
			obs := engine.Observer{OnEpoch: func(e engine.EpochReport, _ engine.Backend) error {
				if r == 1 && e.Epoch == 1 {
					<-release
				}
				return nil
			}}
			go func() { errs <- engine.Train(context.Background(), b, p, s, obs) }()
		}
		start := time.Now()
		select {
		case err := <-errs:
			var te *collective.TimeoutError
			if !errors.As(err, &te) || !te.Aborted || te.Rank != 0 {
				t.Errorf("%s: %v", dev.Name, err)
			}
			t.Logf("%s: after %.2f s: %v", dev.Name, time.Since(start).Seconds(), err)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: rank 0 still waits 20 s after rank 1 hung, with a 300 ms timeout", dev.Name)
		}
		close(release)
		select {
		case err := <-errs:
			if err == nil {
				t.Errorf("%s: rank 1 trained on after rank 0 aborted", dev.Name)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: rank 1 still waits 20 s after the abort", dev.Name)
		}
	}
}
