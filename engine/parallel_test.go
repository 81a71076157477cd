package engine

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// mixedProblem has three snapshots of different sizes (so two transitions
// whose exact interaction means differ in size), random unequal weights,
// steps τ and scores: every term of the loss and every weight of the
// data-parallel sum matters.
func mixedProblem(pairs int) *Problem {
	rng := rand.New(rand.NewPCG(4, 4))
	sizes := []int{30, 25, 20}
	p := &Problem{D: 2, MeanInterval: 1}
	for _, n := range sizes {
		pop := make([]float64, 2*n)
		for i := range pop {
			pop[i] = rng.NormFloat64()
		}
		p.Populations = append(p.Populations, pop)
	}
	c := &couplings.Couplings{D: 2, Times: []float64{0, 1, 2}}
	for range pairs {
		k := rng.IntN(2)
		x, y := p.Populations[k], p.Populations[k+1]
		i, j := rng.IntN(len(x)/2), rng.IntN(len(y)/2)
		c.X = append(c.X, x[2*i:2*i+2]...)
		c.Y = append(c.Y, y[2*j:2*j+2]...)
		c.Score = append(c.Score, rng.NormFloat64(), rng.NormFloat64())
		c.W = append(c.W, 0.1+rng.Float64())
		c.K = append(c.K, int64(k))
		c.Tau = append(c.Tau, 0.5+rng.Float64())
	}
	p.Pairs = c
	return p
}

// trainRanks trains the model on size in-process ranks (size 0: one process
// without a group) and returns rank 0's parameters and epoch losses, after
// checking that every rank ends with the same bits.
func trainRanks(t *testing.T, kind string, p *Problem, s Settings, size int) ([]float64, []float64) {
	t.Helper()
	ranks := []collective.Collective{nil}
	if size > 0 {
		ranks = collectivetest.Group(size)
	}
	params := make([][]float64, len(ranks))
	losses := make([][]float64, len(ranks))
	errs := make([]error, len(ranks))
	var wg sync.WaitGroup
	for r, g := range ranks {
		net, b := newTrainer(t, kind, p, s)
		if g != nil {
			if err := b.(Parallel).Join(g, nil); err != nil {
				t.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			obs := Observer{OnEpoch: func(e EpochReport, _ Backend) error {
				losses[r] = append(losses[r], e.Loss)
				return nil
			}}
			errs[r] = Train(context.Background(), b, p, s, obs)
			params[r] = net.Params
		}()
	}
	wg.Wait()
	for r := range ranks {
		if errs[r] != nil {
			t.Fatalf("rank %d: %v", r, errs[r])
		}
		for i := range params[r] {
			if params[r][i] != params[0][i] {
				t.Fatalf("rank %d: parameter %d is %v, rank 0 has %v", r, i, params[r][i], params[0][i])
			}
		}
	}
	return params[0], losses[0]
}

// TestDataParallelMatchesOneProcess: 1, 2 and 3 ranks train the model one
// process trains, to 1e-7 relative in every parameter after 4 epochs, with
// subsampled and with exact interaction means, and report the same loss.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	p := mixedProblem(62)
	for _, c := range []struct {
		kind    string
		samples int
		batch   int
	}{
		{"jkonet-star", 4, 20},        // 4 steps an epoch, the last of 2 pairs: a rank of 3 gets none
		{"jkonet-star", 0, 25},        // the exact mean, by target snapshot
		{"potential-internal", 0, 62}, // one step an epoch
	} {
		s := DefaultSettings()
		s.Epochs, s.BatchSize, s.Samples, s.Seed, s.LR = 4, c.batch, c.samples, 11, 1e-2
		one, oneLoss := trainRanks(t, c.kind, p, s, 0)
		for _, size := range []int{1, 2, 3} {
			got, loss := trainRanks(t, c.kind, p, s, size)
			worst := 0.0
			for i := range one {
				worst = max(worst, math.Abs(got[i]-one[i])/max(math.Abs(one[i]), 1e-3))
			}
			if worst > 1e-7 {
				t.Errorf("%s, samples %d, %d ranks: parameters differ by %.3g relative, want ≤ 1e-7", c.kind, c.samples, size, worst)
			}
			for e := range oneLoss {
				if math.Abs(loss[e]-oneLoss[e]) > 1e-9*math.Abs(oneLoss[e]) {
					t.Errorf("%s, %d ranks: epoch %d loss %v, one process %v", c.kind, size, e+1, loss[e], oneLoss[e])
				}
			}
			t.Logf("%s, samples %d, %d ranks: worst relative difference %.2g", c.kind, c.samples, size, worst)
		}
	}
}

func TestShard(t *testing.T) {
	// 10 pairs from 5 on 4 ranks: 2, 3, 2, 3; 2 pairs on 3 ranks: 0, 1, 1.
	for _, c := range []struct{ lo, hi, size int }{{5, 15, 4}, {40, 42, 3}, {0, 7, 1}} {
		next := c.lo
		for r := range c.size {
			slo, shi := Shard(c.lo, c.hi, r, c.size)
			if slo != next || shi < slo || shi-slo > (c.hi-c.lo+c.size-1)/c.size {
				t.Fatalf("%+v rank %d: [%d, %d) after %d", c, r, slo, shi, next)
			}
			next = shi
		}
		if next != c.hi {
			t.Fatalf("%+v: the shards end at %d, not %d", c, next, c.hi)
		}
	}
}

// TestDataParallelStopsTogether: a stop asked on rank 1 alone at its third
// step stops both ranks after that step, with the same state.
func TestDataParallelStopsTogether(t *testing.T) {
	p := mixedProblem(40)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples = 3, 10, 2
	ranks := collectivetest.Group(2)
	steps := make([]uint64, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, g := range ranks {
		_, b := newTrainer(t, "jkonet-star", p, s)
		asked := 0
		stop := func() bool { asked++; return r == 1 && asked >= 3 }
		if err := b.(Parallel).Join(g, stop); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = Train(context.Background(), b, p, s, Observer{})
			st, err := b.State()
			if err != nil {
				t.Error(err)
				return
			}
			steps[r] = st.Steps
		}()
	}
	wg.Wait()
	for r := range ranks {
		if !errors.Is(errs[r], context.Canceled) || steps[r] != 3 {
			t.Errorf("rank %d: %v after %d steps, want context.Canceled after 3", r, errs[r], steps[r])
		}
	}
}

// TestDataParallelNonFiniteStopsEveryRank: a loss that overflows on one
// rank's share alone stops every rank at the same step.
func TestDataParallelNonFiniteStopsEveryRank(t *testing.T) {
	p := mixedProblem(40)
	s := DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples = 2, 40, 2
	// Epoch 0's order puts some pair first: make every pair of the second
	// half of the data overflow, so whichever rank holds one fails alone.
	for q := 20; q < 40; q++ {
		p.Pairs.X[2*q] = 1e200
	}
	ranks := collectivetest.Group(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, g := range ranks {
		_, b := newTrainer(t, "potential", p, s)
		if err := b.(Parallel).Join(g, nil); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[r] = Train(context.Background(), b, p, s, Observer{}) }()
	}
	wg.Wait()
	for r, err := range errs {
		var nf *NonFiniteError
		if !errors.As(err, &nf) || nf.Step != 0 {
			t.Errorf("rank %d: %v, want a NonFiniteError at step 0", r, err)
		}
	}
}
