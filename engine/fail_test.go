package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// TestOneRankFailsEveryRankStops: rank 1 fails after epoch 1 of 3 (as a
// failed write would); it returns its own error, and the other ranks stop
// at the first step of epoch 2 with a *PeerFailedError, within the bound
// instead of waiting for rank 1's sum forever. A failure after the last
// epoch, when the others have stopped stepping, is rank 1's alone.
func TestOneRankFailsEveryRankStops(t *testing.T) {
	p := mixedProblem(62)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples, s.Seed = 3, 20, 4, 11 // 4 steps an epoch
	for _, failAt := range []int{1, 3} {
		ranks := collectivetest.Group(3)
		errs := make(chan error, len(ranks))
		for r, g := range ranks {
			_, b := newTrainer(t, "jkonet-star", p, s)
			if err := b.(Parallel).Join(g, nil); err != nil {
				t.Fatal(err)
			}
			obs := Observer{OnEpoch: func(e EpochReport, _ Backend) error {
				if r == 1 && e.Epoch == failAt {
					return errors.New("injected: no space left on device")
				}
				return nil
			}}
			go func() { errs <- fmt.Errorf("rank %d: %w", r, Train(context.Background(), b, p, s, obs)) }()
		}
		var peers, own, clean int
		for range ranks {
			select {
			case err := <-errs:
				var pf *PeerFailedError
				switch {
				case errors.As(err, &pf) && pf.Step == 4 && pf.Ranks == 1 &&
					err.Error() == fmt.Sprintf("rank %d: step 4: stopped because 1 other rank(s) failed (their own line says why)", map[bool]int{true: 0, false: 2}[err.Error()[5] == '0']):
					peers++
				case err.Error() == "rank 1: injected: no space left on device":
					own++
				case errors.Unwrap(err) == nil:
					clean++
				default:
					t.Errorf("fail at epoch %d: %v", failAt, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("fail at epoch %d: a rank still waits 20 s after rank 1 failed", failAt)
			}
		}
		wantPeers, wantClean := 2, 0
		if failAt == 3 {
			wantPeers, wantClean = 0, 2
		}
		if own != 1 || peers != wantPeers || clean != wantClean {
			t.Errorf("fail at epoch %d: %d own, %d peer failures, %d clean ends; want 1, %d, %d", failAt, own, peers, clean, wantPeers, wantClean)
		}
	}
}
