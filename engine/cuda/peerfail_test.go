package cuda

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// failingSum is stagedDevice whose failAt-th device sum (from 1) fails
// before it sums, as a failed launch of that step would: an error of the
// rank's own, in the middle of an epoch.
type failingSum struct {
	stagedDevice
	calls  *int
	failAt int
}

func (f failingSum) AllReduceSumDevice(ptr uint64, n int, stream uintptr) error {
	if *f.calls++; *f.calls == f.failAt {
		return errors.New("injected: launch failed")
	}
	return f.stagedDevice.AllReduceSumDevice(ptr, n, stream)
}

// TestDeviceSumCarriesFailure: under a device collective (NCCL's path,
// whose stop flag is read back at each epoch's last step only) rank 1 of 2
// fails on its own; it prints its own error, and rank 0 stops at the last
// step of the epoch in which rank 1 failed (step 7 of 4-step epochs) with
// the one line of a *engine.PeerFailedError, within seconds and with no
// --collective-timeout, because rank 1 joins rank 0's remaining sums of the
// epoch with engine.FailFlag. Faults: after epoch 1 (engine.TestFault, as a
// failed checkpoint), at step 5's sum (mid-epoch), and after the last epoch
// (rank 0 has finished: it ends cleanly).
func TestDeviceSumCarriesFailure(t *testing.T) {
	defer func() { engine.TestFault = nil }()
	for _, dev := range testDevices(t) {
		p := parityProblem(31, 2, 8) // 62 pairs: 4 steps of 20, the last of 2
		s := engine.DefaultSettings()
		s.Epochs, s.BatchSize, s.Samples, s.Precision, s.LR = 3, 20, 2, engine.Float64, 1e-2
		for _, c := range []struct {
			name              string
			epochFault, sumAt int // TestFault after this epoch; fail rank 1's sumAt-th sum
			own, peer         string
			peerStep          int
			sums              [2]int // device sum calls per rank, rank 1's failed one included
		}{
			{"after epoch 1", 1, 0, "rank 1: injected: no space left on device", "rank 0: step 7: stopped because 1 other rank(s) failed (their own line says why)", 7, [2]int{8, 8}},
			{"at step 5", 0, 6, "rank 1: step 5: injected: launch failed", "rank 0: step 7: stopped because 1 other rank(s) failed (their own line says why)", 7, [2]int{8, 9}},
			{"after the last epoch", 3, 0, "rank 1: injected: no space left on device", "rank 0: <nil>", 0, [2]int{12, 12}},
		} {
			engine.TestFault = func(rank, epoch int) error {
				if rank == 1 && epoch == c.epochFault {
					return errors.New("injected: no space left on device")
				}
				return nil
			}
			errs := make(chan error, 2)
			calls := make([]int, 2)
			for r, g := range collectivetest.Group(2) {
				b := newOn(t, dev, "jkonet-star", p, s)
				group := failingSum{stagedDevice{g, dev.ctx}, &calls[r], 0}
				if r == 1 {
					group.failAt = c.sumAt
				}
				if err := b.(engine.Parallel).Join(group, nil); err != nil {
					t.Fatal(err)
				}
				go func() {
					if err := engine.Train(context.Background(), b, p, s, engine.Observer{}); err != nil {
						errs <- fmt.Errorf("rank %d: %w", r, err)
					} else {
						errs <- fmt.Errorf("rank %d: <nil>", r)
					}
				}()
			}
			got := map[string]error{}
			for range 2 {
				select {
				case err := <-errs:
					got[err.Error()[:6]] = err
				case <-time.After(20 * time.Second):
					t.Fatalf("%s, %s: a rank still waits 20 s after rank 1 failed", dev.Name, c.name)
				}
			}
			if e := got["rank 1"]; e == nil || e.Error() != c.own {
				t.Errorf("%s, %s: rank 1 says %v, want %q", dev.Name, c.name, e, c.own)
			}
			e := got["rank 0"]
			var pf *engine.PeerFailedError
			if e == nil || e.Error() != c.peer || (c.peerStep > 0) != errors.As(e, &pf) || pf != nil && (pf.Step != uint64(c.peerStep) || pf.Ranks != 1) {
				t.Errorf("%s, %s: rank 0 says %v, want %q", dev.Name, c.name, e, c.peer)
			}
			if calls[0] != c.sums[0] || calls[1] != c.sums[1] {
				t.Errorf("%s, %s: the ranks made %d and %d device sums, want %v", dev.Name, c.name, calls[0], calls[1], c.sums)
			}
		}
	}
}
