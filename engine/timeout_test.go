package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// TestOneRankHangsOthersTimeOut: rank 1 of 3 hangs after epoch 1 (as a rank
// that died without its launcher noticing); the others, whose sums are
// bounded by a 200 ms --collective-timeout (Watched), abort the group and
// return a *collective.TimeoutError naming the timeout within seconds,
// instead of waiting for rank 1 forever; released, rank 1 finds the group
// aborted.
func TestOneRankHangsOthersTimeOut(t *testing.T) {
	p := mixedProblem(62)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples, s.Seed = 3, 20, 4, 11
	release := make(chan struct{})
	errs := make(chan error, 3)
	start := time.Now()
	for r, g := range collectivetest.Group(3) {
		_, b := newTrainer(t, "jkonet-star", p, s)
		if err := b.(Parallel).Join(Watched(g, 200*time.Millisecond), nil); err != nil {
			t.Fatal(err)
		}
		obs := Observer{OnEpoch: func(e EpochReport, _ Backend) error {
			if r == 1 && e.Epoch == 1 {
				<-release
			}
			return nil
		}}
		go func() { errs <- fmt.Errorf("rank %d: %w", r, Train(context.Background(), b, p, s, obs)) }()
	}
	for range 2 {
		select {
		case err := <-errs:
			var te *collective.TimeoutError
			if !errors.As(err, &te) || !te.Aborted || te.Timeout != 200*time.Millisecond || err.Error()[5] == '1' {
				t.Errorf("%v", err)
			}
			t.Logf("%.2f s: %v", time.Since(start).Seconds(), err)
		case <-time.After(20 * time.Second):
			t.Fatal("a rank still waits 20 s after rank 1 hung, with a 200 ms timeout")
		}
	}
	close(release)
	select {
	case err := <-errs:
		if err == nil || err.Error() != "rank 1: step 4: the in-process group was aborted" {
			t.Errorf("rank 1 after the others aborted: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("rank 1 still waits 20 s after the group was aborted")
	}
}
