package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

func init() {
	always := func() error { return nil }
	Register(Registration{Name: "cpu", Available: always, New: newCPU})
	Register(Registration{Name: "cpu-graph", Available: always, New: newCPUGraph})
}

// cpuBackend assembles batches in host memory and runs the fused pure-Go
// loss (models.Net.LossGrad), then clipping and Adam. With graphs set it
// runs the Gorgonia expression graphs instead (backend "cpu-graph": about
// 3× slower, kept as the independent implementation the fused loss is
// checked against).
type cpuBackend struct {
	net      *models.Net
	problem  *Problem
	settings Settings
	opt      *adam
	batch    models.Batch
	grad     []float64
	exact    bool                      // one exact interaction set over the whole target population
	graphs   map[int]*models.GraphLoss // by batch size; nil for the fused loss
	pcg      rand.PCG                  // re-seeded with (seed, step) every step, so it does not allocate
	rng      *rand.Rand
}

func newCPUGraph(net *models.Net, p *Problem, s Settings) (Backend, error) {
	b, err := newCPU(net, p, s)
	if err != nil {
		return nil, err
	}
	b.(*cpuBackend).graphs = map[int]*models.GraphLoss{}
	return b, nil
}

// loss evaluates the loss and its gradient on the assembled batch.
func (b *cpuBackend) loss() (models.Loss, error) {
	if b.graphs == nil {
		return b.net.LossGrad(&b.batch, b.grad)
	}
	pairs := len(b.batch.W)
	g, ok := b.graphs[pairs]
	if !ok {
		var err error
		if g, err = models.NewGraphLoss(b.net, pairs, b.batch.S, b.exact); err != nil {
			return models.Loss{}, err
		}
		b.graphs[pairs] = g
	}
	v, err := g.LossGrad(&b.batch, b.net.Params, b.grad)
	return models.Loss{Value: v}, err
}

func newCPU(net *models.Net, p *Problem, s Settings) (Backend, error) {
	groups, err := paramGroups(net, s.Freeze)
	if err != nil {
		return nil, err
	}
	b := &cpuBackend{net: net, problem: p, settings: s, grad: make([]float64, len(net.Params))}
	b.opt = newAdam(s, groups, len(net.Params))
	b.batch.D = p.D
	if net.HasInteraction() && s.Samples == 0 {
		n := len(p.Populations[0])
		for k, pop := range p.Populations {
			if len(pop) != n {
				return nil, fmt.Errorf("--interaction-samples 0 (exact interaction means) needs snapshots of equal size; snapshot %d has %d points, snapshot 0 has %d", k, len(pop)/p.D, n/p.D)
			}
		}
		b.exact = true
	}
	return b, nil
}

// paramGroups splits the model's flat buffer into the networks that are
// clipped separately: "V", "U" and "beta", by tensor-name prefix.
func paramGroups(net *models.Net, freeze []string) ([]paramGroup, error) {
	var groups []paramGroup
	for _, t := range net.Layout() {
		name, _, _ := strings.Cut(t.Name, ".")
		if len(groups) == 0 || groups[len(groups)-1].name != name {
			groups = append(groups, paramGroup{name: name, lo: t.Offset})
		}
		groups[len(groups)-1].hi = t.Offset + t.Size()
	}
	for _, f := range freeze {
		found := false
		for i := range groups {
			if groups[i].name == f {
				groups[i].frozen, found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot freeze %q: the %s model has no such network", f, net.Kind)
		}
	}
	return groups, nil
}

func (b *cpuBackend) Name() string { return "cpu" }

func (b *cpuBackend) Step(pairs []int, step uint64) (models.Loss, error) {
	b.assemble(pairs, step)
	loss, err := b.loss()
	if err != nil {
		return loss, err
	}
	if err := checkFinite(loss); err != nil {
		return loss, err
	}
	b.opt.update(b.net.Params, b.grad)
	return loss, nil
}

// assemble fills the batch for the given pairs, reusing its buffers. The
// interaction samples of step come from the PCG stream (seed, step): for
// each pair, S target-population points drawn with replacement, twice
// independently (E[r₀·r₁] = ‖r‖², DESIGN.md §1).
func (b *cpuBackend) assemble(pairs []int, step uint64) {
	c, d, bt := b.problem.Pairs, b.problem.D, &b.batch
	n := len(pairs)
	bt.X, bt.Y, bt.Score = resize(bt.X, n*d), resize(bt.Y, n*d), resize(bt.Score, n*d)
	bt.W, bt.Tau, bt.T = resize(bt.W, n), resize(bt.Tau, n), resize(bt.T, n)
	for i, p := range pairs {
		copy(bt.X[i*d:(i+1)*d], c.X[p*d:(p+1)*d])
		copy(bt.Y[i*d:(i+1)*d], c.Y[p*d:(p+1)*d])
		copy(bt.Score[i*d:(i+1)*d], c.Score[p*d:(p+1)*d])
		bt.W[i], bt.Tau[i] = c.W[p], c.Tau[p]
		bt.T[i] = b.problem.TargetTime(int(c.K[p]))
	}
	if !b.net.HasInteraction() {
		return
	}
	if b.exact {
		pop0 := b.problem.Populations[0]
		bt.S = len(pop0) / d
		bt.Others[0], bt.Others[1] = resize(bt.Others[0], n*len(pop0)), nil
		for i, p := range pairs {
			copy(bt.Others[0][i*len(pop0):(i+1)*len(pop0)], b.problem.Populations[c.K[p]+1])
		}
		return
	}
	s := b.settings.Samples
	bt.S = s
	if b.rng == nil {
		b.rng = rand.New(&b.pcg)
	}
	b.pcg.Seed(b.settings.Seed, step)
	rng := b.rng
	for a := range bt.Others {
		bt.Others[a] = resize(bt.Others[a], n*s*d)
		for i, p := range pairs {
			pop := b.problem.Populations[c.K[p]+1]
			m := len(pop) / d
			for j := 0; j < s; j++ {
				q := rng.IntN(m)
				copy(bt.Others[a][(i*s+j)*d:(i*s+j+1)*d], pop[q*d:(q+1)*d])
			}
		}
	}
}

func resize(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	return buf[:n]
}

func (b *cpuBackend) State() *State {
	return &State{
		Params: append([]float64(nil), b.net.Params...),
		M:      append([]float64(nil), b.opt.m...),
		V:      append([]float64(nil), b.opt.v...),
		Steps:  b.opt.t,
	}
}

func (b *cpuBackend) SetState(s *State) error {
	if len(s.Params) != len(b.net.Params) || len(s.M) != len(s.Params) || len(s.V) != len(s.Params) {
		return fmt.Errorf("checkpoint holds %d parameters, the %s model has %d", len(s.Params), b.net.Kind, len(b.net.Params))
	}
	copy(b.net.Params, s.Params)
	copy(b.opt.m, s.M)
	copy(b.opt.v, s.V)
	b.opt.t = s.Steps
	return nil
}
