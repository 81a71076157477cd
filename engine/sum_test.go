package engine

import (
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// sumPairs is a batch of four pairs with their weights, losses, loss terms
// and gradients (of three parameters). Every value is a short dyadic
// fraction and every shard's weight a dyadic one, so the shards' weighted
// means, their scaled sum and the one-rank mean are exact: the test
// compares with ==.
var sumPairs = struct {
	w, loss, pot []float64
	grad         [][]float64
}{
	w:    []float64{0.5, 1.5, 1, 1},
	loss: []float64{1, 2, 0.5, 0.25},
	pot:  []float64{0.25, 0.5, 1, 2},
	grad: [][]float64{{1, -2, 0.5}, {0.25, 4, -1}, {-3, 0.5, 2}, {2, 1, -0.5}},
}

// shardShare is what a backend computes for the pairs [lo, hi): the
// gradient and loss of their weighted mean (terms averaged over the pairs)
// and their weight.
func shardShare(lo, hi int) (g []float64, l networks.Loss, w float64) {
	p := sumPairs
	g = make([]float64, 3)
	if lo == hi {
		return g, l, 0
	}
	for i := lo; i < hi; i++ {
		w += p.w[i]
	}
	for i := lo; i < hi; i++ {
		f := p.w[i] / w
		for j, v := range p.grad[i] {
			g[j] += f * v
		}
		l.Value += f * p.loss[i]
		l.Potential += p.pot[i] / float64(hi-lo)
		l.Residual += 2 * p.pot[i] / float64(hi-lo)
	}
	return g, l, w
}

// TestShardSum packs the ranks' shares of a batch, sums them over
// in-process ranks, and checks the gradient, the loss and the stop
// agreement against one rank's values, bit for bit; an empty shard adds
// zeros.
func TestShardSum(t *testing.T) {
	for _, c := range []struct{ lo, hi, size, stopper int }{
		{0, 4, 2, 1}, {0, 4, 3, 0}, {1, 3, 3, -1}, {0, 4, 4, 3},
	} {
		g1, l1, w := shardShare(c.lo, c.hi)
		one := NewShardSum(collective.Single{}, nil, 3)
		one.Pack(g1, l1, w, w, c.hi-c.lo)
		if err := one.Sum(7); err != nil {
			t.Fatal(err)
		}
		wantGrad, wantLoss := append([]float64(nil), one.Grad()...), one.Loss(w, c.hi-c.lo)
		if one.StopAgreed() {
			t.Errorf("one rank that was not asked to stop agreed to stop")
		}
		if wantLoss.Value != l1.Value || wantLoss.Potential != l1.Potential || wantLoss.Residual != l1.Residual {
			t.Errorf("[%d, %d): one rank's loss %+v, want the batch's %+v", c.lo, c.hi, wantLoss, l1)
		}

		ranks := collectivetest.Group(c.size)
		var wg sync.WaitGroup
		for r, g := range ranks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := NewShardSum(g, func() bool { return r == c.stopper }, 3)
				slo, shi := s.Shard(c.lo, c.hi)
				gr, lr, wr := shardShare(slo, shi)
				s.Pack(gr, lr, wr, w, shi-slo)
				if err := s.Sum(7); err != nil {
					t.Error(err)
					return
				}
				if len(s.Buf) != s.Len() || s.Len() != 3+LossTerms+1 {
					t.Errorf("buffer of %d values, layout %d, want %d", len(s.Buf), s.Len(), 3+LossTerms+1)
				}
				for j, v := range s.Grad() {
					if v != wantGrad[j] {
						t.Errorf("%d ranks, rank %d, [%d, %d): gradient[%d] = %v, one rank %v", c.size, r, c.lo, c.hi, j, v, wantGrad[j])
					}
				}
				if got := s.Loss(w, c.hi-c.lo); got != wantLoss {
					t.Errorf("%d ranks, rank %d, [%d, %d): loss %+v, one rank %+v", c.size, r, c.lo, c.hi, got, wantLoss)
				}
				if got, want := s.StopAgreed(), c.stopper >= 0; got != want {
					t.Errorf("%d ranks, rank %d: StopAgreed = %v with rank %d asked to stop", c.size, r, got, c.stopper)
				}
			}()
		}
		wg.Wait()
	}
	var none *ShardSum
	if none.Group() != nil || none.StopAgreed() {
		t.Error("a backend that has not joined has a group or agreed to stop")
	}
}

// TestEpochMean checks the epoch's loss against the formula: the loss
// weighted by the steps' weights, the terms by their pairs.
func TestEpochMean(t *testing.T) {
	var e EpochMean
	e.Add(networks.Loss{Value: 2, Potential: 1, Interaction: 4}, 0.5, 1)
	e.Add(networks.Loss{Value: 1, Potential: 4, Interaction: 1}, 1.5, 3)
	got := e.Mean()
	want := networks.Loss{Value: (0.5*2 + 1.5*1) / 2, Potential: (1 + 3*4) / 4.0, Interaction: (4 + 3*1) / 4.0}
	if got != want {
		t.Errorf("Mean = %+v, want %+v", got, want)
	}
	if e.Pairs != 4 || e.Weight != 2 {
		t.Errorf("Pairs %v, Weight %v; want 4 and 2", e.Pairs, e.Weight)
	}
}
