package engine

import (
	"fmt"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// Problem is what training sees: the coupling pairs, and each snapshot's
// population for the interaction mean over the target snapshot.
type Problem struct {
	D     int
	Pairs *couplings.Couplings
	// Populations[k] holds the points of snapshot Times[k] (n_k×D).
	Populations [][]float64
	// MeanInterval is mean_k(t_{k+1} − t_k): the unit of τ and of the time
	// fed to time-potential, (t − t_0)/MeanInterval.
	MeanInterval float64
}

// NewProblem pairs precomputed couplings with the snapshots they came from;
// the snapshot times must be the couplings' times.
func NewProblem(c *couplings.Couplings, set *snapshot.Set) (*Problem, error) {
	if c.D != set.D {
		return nil, fmt.Errorf("couplings are in d = %d but the data are in d = %d", c.D, set.D)
	}
	snaps := set.Snapshots()
	if len(snaps) != len(c.Times) {
		return nil, fmt.Errorf("couplings have %d snapshot times but the data have %d (recompute them with preprocess)", len(c.Times), len(snaps))
	}
	p := &Problem{D: c.D, Pairs: c}
	for k, s := range snaps {
		if s.Time != c.Times[k] {
			return nil, fmt.Errorf("couplings time %d is %v but the data's is %v (recompute them with preprocess)", k, c.Times[k], s.Time)
		}
		p.Populations = append(p.Populations, s.X)
	}
	p.MeanInterval = (c.Times[len(c.Times)-1] - c.Times[0]) / float64(len(c.Times)-1)
	return p, nil
}

// TargetTime is the time fed to time-potential for pairs of transition k:
// the target snapshot's time in mean intervals since the first snapshot.
func (p *Problem) TargetTime(k int) float64 {
	return (p.Pairs.Times[k+1] - p.Pairs.Times[0]) / p.MeanInterval
}

// ForNet is the problem the backends train net on. For a variant fitted at
// the source (networks.Net.FitsAtSource: time-potential, which has neither
// U nor β) each pair (x, y) becomes (2x − y, x): the residual every backend
// computes, τ∇V(Y) + (Y − X), is then τ∇V(x) + (y − x) (docs/design.md
// §3.1). Other variants get p itself.
func (p *Problem) ForNet(net *networks.Net) *Problem {
	if !net.FitsAtSource() {
		return p
	}
	c := *p.Pairs
	c.X, c.Y = make([]float64, len(c.X)), append([]float64(nil), p.Pairs.X...)
	for i, x := range p.Pairs.X {
		c.X[i] = 2*x - p.Pairs.Y[i]
	}
	q := *p
	q.Pairs = &c
	return &q
}
