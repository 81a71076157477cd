package cuda

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// watchedStaged is stagedDevice with the watchdog's Watch
// (collective.Watcher), counting the backend's waits for the GPU's sums.
type watchedStaged struct {
	stagedDevice
	waits *int
}

func (w watchedStaged) Watch(wait func() error) error {
	*w.waits++
	return wait()
}

// TestDeviceSumWaitsOncePerEpoch: with a device collective (NCCL's path),
// the stop flag joins the sum of each epoch's last step only, so a rank
// waits for the GPU once an epoch: over 3 epochs of 4 steps each rank asks
// its stop request 3 times and waits (collective.Watcher) 3 times, and the
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
			asked, waits := make([]int, 2), make([]int, 2)
			states, errs := make([]*engine.State, 2), make([]error, 2)
			for r, g := range collectivetest.Group(2) {
				b := newOn(t, dev, "jkonet-star", p, s)
				stop := func() bool {
					asked[r]++
					return r == 1 && stopAt > 0 && asked[r] >= stopAt
				}
				if err := b.(engine.Parallel).Join(watchedStaged{stagedDevice{g, dev.ctx}, &waits[r]}, stop); err != nil {
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
				if asked[r] != wantEpochs || waits[r] != wantEpochs || states[r] == nil || states[r].Steps != uint64(4*wantEpochs) {
					t.Errorf("%s, stop in epoch %d: rank %d asked %d times, waited %d times, stopped after %v; want %d, %d and step %d",
						dev.Name, stopAt, r, asked[r], waits[r], states[r], wantEpochs, wantEpochs, 4*wantEpochs)
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
