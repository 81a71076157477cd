// Package collectivetest is an in-process group of ranks for tests: one
// goroutine per rank, summing in rank order, so data-parallel code can be
// checked against one process without a launcher.
package collectivetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
)

// group is the ranks' meeting point: each AllReduceSum waits until every
// rank has brought its buffer, then all get the sum.
type group struct {
	mu      sync.Mutex
	cond    *sync.Cond
	bufs    [][]float64
	arrived int
	round   int
	err     error
	aborted []bool // by rank
}

// rank is one rank's view of the group.
type rank struct {
	g    *group
	r, n int
}

// Group returns the n ranks of one in-process group.
func Group(n int) []collective.Collective {
	g := &group{bufs: make([][]float64, n), aborted: make([]bool, n)}
	g.cond = sync.NewCond(&g.mu)
	ranks := make([]collective.Collective, n)
	for r := range ranks {
		ranks[r] = &rank{g: g, r: r, n: n}
	}
	return ranks
}

func (k *rank) Name() string { return "in-process" }
func (k *rank) Rank() int    { return k.r }
func (k *rank) Size() int    { return k.n }
func (k *rank) Close() error { return nil }

// errAborted is what every sum returns once a rank aborted the group.
var errAborted = errors.New("the in-process group was aborted")

// Abort is this rank's ncclCommAbort (collective.Aborter): its waiting sum
// returns an error; the ranks already waiting keep waiting (as NCCL's
// peers, until their own watchdog), and every later sum of any rank
// returns an error.
func (k *rank) Abort() error {
	g := k.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.aborted[k.r] = true
	g.cond.Broadcast()
	return nil
}

// AllReduceSum sums the ranks' buffers in rank order; buffers of different
// lengths are an error on every rank.
func (k *rank) AllReduceSum(buf []float64) error {
	g := k.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Contains(g.aborted, true) {
		return errAborted
	}
	round := g.round
	g.bufs[k.r] = buf
	if g.arrived++; g.arrived < k.n {
		for round == g.round && !g.aborted[k.r] {
			g.cond.Wait()
		}
		if round == g.round {
			return errAborted
		}
		return g.err
	}
	g.err = nil
	sum := make([]float64, len(buf))
	for r, b := range g.bufs {
		if len(b) != len(sum) {
			g.err = fmt.Errorf("rank %d summed %d values, rank %d %d", r, len(b), k.r, len(sum))
			break
		}
		for i, v := range b {
			sum[i] += v
		}
	}
	if g.err == nil {
		for _, b := range g.bufs {
			copy(b, sum)
		}
	}
	g.arrived, g.round = 0, g.round+1
	g.cond.Broadcast()
	return g.err
}
