package engine

import (
	"fmt"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/philox"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

func init() {
	always := func() (string, error) { return "", nil }
	cpu := Registration{Name: "cpu", Label: "the CPU", Auto: 1, Available: always,
		Precisions: []string{Float64}, Collectives: []CollectiveOffer{MPIOffer}, New: newCPU}
	Register(cpu)
	cpu.Name, cpu.Auto, cpu.New = "cpu-graph", 0, newCPUGraph // the independent check of the fused loss, never auto's choice
	Register(cpu)
}

// DefaultCPUSamples is the size of each of the two interaction subsamples per
// pair that the CPU backends use when the settings leave it to them
// (SamplesAuto), drawn stratified along a k-d order of the target population
// (Settings.Stratified); a target population of at most 2·DefaultCPUSamples
// points gets the exact mean, which then costs no more. On two data sets
// whose drift is all repulsion it came within 2% of the exact mean's one-step
// W1 (mean of 3 seeds) at 0.18× its CPU time, with 0.07–0.27× the squared
// error of 16 independent samples in the interaction mean; on a short-range
// Gaussian repulsion at 500 points a snapshot it came 2.4% under the exact
// mean's W1 (2 seeds) at 0.07× its CPU time (bench/interaction_samples.md,
// bench/interaction_samples.sh, bench/repulsion).
const DefaultCPUSamples = 16

// cpuBackend assembles batches in host memory and runs the fused pure-Go
// loss (networks.Net.LossGrad), then clipping and Adam. With graphs set it
// runs the Gorgonia expression graphs instead (backend "cpu-graph": about
// 3× slower, kept as the independent implementation the fused loss is
// checked against).
type cpuBackend struct {
	name     string
	net      *networks.Net
	problem  *Problem
	settings Settings
	opt      *adam
	order    []int
	batch    networks.Batch
	grad     []float64
	exact    bool                           // one exact interaction set over the whole target population
	ordered  [][]float64                    // stratified: the populations in k-d order (kdOrder)
	groups   [][]int                        // exact: the step's pairs by target snapshot
	total    []float64                      // exact: the step's gradient, summed over the groups
	graphs   map[[2]int]*networks.GraphLoss // by batch size and samples; nil for the fused loss
	epoch    EpochMean                      // the steps since the last Loss
	shard    *ShardSum                      // data parallel (Join); nil for one process
}

func newCPUGraph(net *networks.Net, p *Problem, s Settings) (Backend, error) {
	b, err := newCPU(net, p, s)
	if err != nil {
		return nil, err
	}
	cb := b.(*cpuBackend)
	cb.name, cb.graphs = "cpu-graph", map[[2]int]*networks.GraphLoss{}
	return b, nil
}

// loss evaluates the loss and its gradient on the assembled batch.
func (b *cpuBackend) loss() (networks.Loss, error) {
	if b.graphs == nil {
		return b.net.LossGrad(&b.batch, b.grad)
	}
	shape := [2]int{len(b.batch.W), b.batch.S}
	g, ok := b.graphs[shape]
	if !ok {
		var err error
		if g, err = networks.NewGraphLoss(b.net, shape[0], shape[1], b.exact); err != nil {
			return networks.Loss{}, err
		}
		b.graphs[shape] = g
	}
	v, err := g.LossGrad(&b.batch, b.net.Params, b.grad)
	return networks.Loss{Value: v}, err
}

func newCPU(net *networks.Net, p *Problem, s Settings) (Backend, error) {
	if s.Precision == Float32 {
		return nil, fmt.Errorf("--precision float32: the CPU backends compute in float64 only")
	}
	s.Precision = Float64
	if s.Samples == SamplesAuto {
		s.Samples = DefaultCPUSamples
		switch {
		case !net.HasInteraction():
		case largestTarget(p) <= 2*DefaultCPUSamples:
			s.Samples = 0
		default:
			s.Stratified = true
		}
	}
	groups, err := ParamGroups(net, s.Freeze)
	if err != nil {
		return nil, err
	}
	b := &cpuBackend{name: "cpu", net: net, problem: p, settings: s, grad: make([]float64, len(net.Params))}
	b.opt = newAdam(s, groups, len(net.Params))
	b.batch.D = p.D
	if net.HasInteraction() && s.Samples == 0 {
		b.exact = true
		b.groups = make([][]int, len(p.Populations))
		b.total = make([]float64, len(net.Params))
	}
	if net.HasInteraction() && s.Stratified && s.Samples > 0 {
		b.ordered = make([][]float64, len(p.Populations))
		for k, pop := range p.Populations {
			b.ordered[k] = kdOrder(pop, p.D)
		}
	}
	return b, nil
}

// largestTarget is the number of points of the largest target snapshot.
func largestTarget(p *Problem) int {
	var m int
	for _, pop := range p.Populations[1:] {
		m = max(m, len(pop)/p.D)
	}
	return m
}

func (b *cpuBackend) Name() string       { return b.name }
func (b *cpuBackend) Settings() Settings { return b.settings }
func (b *cpuBackend) Close() error       { return nil }

func (b *cpuBackend) SetOrder(order []int) error {
	b.order = append(b.order[:0], order...)
	return nil
}

func (b *cpuBackend) Step(lo, hi int, step uint64) error {
	loss, _, err := b.Probe(lo, hi, step)
	if err != nil {
		return err
	}
	b.epoch.Add(loss, b.weight(b.order[lo:hi]), hi-lo)
	b.opt.update(b.net.Params, b.grad)
	return nil
}

func (b *cpuBackend) Loss() (networks.Loss, error) {
	l := b.epoch.Mean()
	b.epoch = EpochMean{}
	return l, nil
}

// weight is Σ w over the pairs.
func (b *cpuBackend) weight(pairs []int) float64 {
	var w float64
	for _, q := range pairs {
		w += b.problem.Pairs.W[q]
	}
	return w
}

// Probe evaluates step step on order[lo:hi] into b.grad without updating
// (after Join, the rank's share summed over the ranks); a loss that is not
// finite is a NonFiniteError.
func (b *cpuBackend) Probe(lo, hi int, step uint64) (networks.Loss, []float64, error) {
	if lo < 0 || hi > len(b.order) || lo >= hi {
		return networks.Loss{}, nil, fmt.Errorf("step %d: pairs [%d, %d) of an order of %d", step, lo, hi, len(b.order))
	}
	if b.shard != nil {
		return b.probeShared(lo, hi, step)
	}
	loss, err := b.evaluate(b.order[lo:hi], step)
	if err == nil {
		err = CheckFinite(loss, step)
	}
	return loss, b.grad, err
}

// evaluate computes the loss of the pairs (the weighted mean) and its
// gradient into b.grad.
func (b *cpuBackend) evaluate(pairs []int, step uint64) (networks.Loss, error) {
	if b.exact {
		return b.evaluateExact(pairs, step)
	}
	b.assemble(pairs, step)
	return b.loss()
}

// probeShared evaluates this rank's share order[slo:shi] of the batch into
// the sum buffer (ShardSum.Pack) and sums it over the ranks: the gradient
// and loss of the whole batch, and the stop requests. The finiteness check
// comes after the sum, so every rank sees the same verdict.
func (b *cpuBackend) probeShared(lo, hi int, step uint64) (networks.Loss, []float64, error) {
	slo, shi := b.shard.Shard(lo, hi)
	w, wr := b.weight(b.order[lo:hi]), b.weight(b.order[slo:shi])
	var l networks.Loss
	if shi > slo {
		var err error
		if l, err = b.evaluate(b.order[slo:shi], step); err != nil {
			return l, nil, err
		}
	}
	b.shard.Pack(b.grad, l, wr, w, shi-slo)
	if err := b.shard.Sum(step); err != nil {
		return networks.Loss{}, nil, err
	}
	copy(b.grad, b.shard.Grad())
	loss := b.shard.Loss(w, hi-lo)
	return loss, b.grad, CheckFinite(loss, step)
}

// Join makes the backend one rank of g (Parallel); g must sum host buffers.
func (b *cpuBackend) Join(g collective.Group, stop func() bool) error {
	if _, ok := g.(collective.Collective); !ok {
		return fmt.Errorf("the %s backend sums host buffers, and collective %s sums GPU buffers only", b.name, g.Name())
	}
	b.shard = NewShardSum(g, stop, len(b.grad))
	return nil
}

func (b *cpuBackend) Joined() collective.Group    { return b.shard.Group() }
func (b *cpuBackend) StopAgreed() bool            { return b.shard.StopAgreed() }
func (b *cpuBackend) FailPeers(step uint64) error { return b.shard.Fail(step) }

// evaluateExact evaluates a step with the exact interaction mean. The target
// snapshots may differ in size, and a batch holds one sample count, so the
// pairs go by target snapshot k: with W_k the weight of group k and W the
// batch's, L = Σ_k (W_k/W) L_k and likewise the gradient; the terms are
// averaged over the pairs.
func (b *cpuBackend) evaluateExact(pairs []int, step uint64) (networks.Loss, error) {
	c := b.problem.Pairs
	for k := range b.groups {
		b.groups[k] = b.groups[k][:0]
	}
	var w float64
	for _, q := range pairs {
		b.groups[c.K[q]] = append(b.groups[c.K[q]], q)
		w += c.W[q]
	}
	clear(b.total)
	var loss networks.Loss
	for _, g := range b.groups {
		if len(g) == 0 {
			continue
		}
		b.assemble(g, step)
		l, err := b.loss()
		if err != nil {
			return l, err
		}
		var wg float64
		for _, q := range g {
			wg += c.W[q]
		}
		f, n := wg/w, float64(len(g))/float64(len(pairs))
		for i, v := range b.grad {
			b.total[i] += f * v
		}
		loss.Value += f * l.Value
		loss.Potential += n * l.Potential
		loss.Internal += n * l.Internal
		loss.Interaction += n * l.Interaction
		loss.Residual += n * l.Residual
	}
	copy(b.grad, b.total)
	return loss, nil
}

// assemble fills the batch for the given pairs, reusing its buffers. The
// interaction samples of pair p at step step are philox.Index(seed, step, p,
// a·S + s, n) for sample s of set a ∈ {0, 1}: two independent subsamples
// drawn with replacement from the target population (E[r₀·r₁] = ‖r‖²,
// docs/design.md §3.2). Stratified, sample s of set a is instead
// stratifiedIndex of the same Philox word in the population's k-d order:
// the sets stay independent and each mean unbiased.
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
	if b.exact { // pairs share their target snapshot (evaluateExact)
		pop := b.problem.Populations[c.K[pairs[0]]+1]
		bt.S = len(pop) / d
		bt.Others[0], bt.Others[1] = resize(bt.Others[0], n*len(pop)), nil
		for i := range pairs {
			copy(bt.Others[0][i*len(pop):(i+1)*len(pop)], pop)
		}
		return
	}
	s := b.settings.Samples
	bt.S = s
	for a := range bt.Others {
		bt.Others[a] = resize(bt.Others[a], n*s*d)
		for i, p := range pairs {
			if b.ordered != nil {
				b.stratify(bt.Others[a][i*s*d:(i+1)*s*d], b.ordered[c.K[p]+1], step, p, a)
				continue
			}
			pop := b.problem.Populations[c.K[p]+1]
			m := uint32(len(pop) / d)
			for j := 0; j < s; j++ {
				q := int(philox.Index(b.settings.Seed, step, uint32(p), uint32(a*s+j), m))
				copy(bt.Others[a][(i*s+j)*d:(i*s+j+1)*d], pop[q*d:(q+1)*d])
			}
		}
	}
}

// stratify writes into out set a of pair p's stratified samples at step step
// from the k-d ordered population ordered.
func (b *cpuBackend) stratify(out, ordered []float64, step uint64, p, a int) {
	d, s := b.problem.D, b.settings.Samples
	m := len(ordered) / d
	for j := range s {
		w := philox.Word(b.settings.Seed, step, uint32(p), uint32(a*s+j))
		q := stratifiedIndex(w, j, s, m)
		copy(out[j*d:(j+1)*d], ordered[q*d:(q+1)*d])
	}
}

func resize(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	return buf[:n]
}

func (b *cpuBackend) State() (*State, error) {
	return &State{
		Params: append([]float64(nil), b.net.Params...),
		M:      append([]float64(nil), b.opt.m...),
		V:      append([]float64(nil), b.opt.v...),
		Steps:  b.opt.t,
	}, nil
}

func (b *cpuBackend) SetState(s *State) error {
	if err := s.Check(len(b.net.Params), b.net.Kind); err != nil {
		return err
	}
	copy(b.net.Params, s.Params)
	copy(b.opt.m, s.M)
	copy(b.opt.v, s.V)
	b.opt.t = s.Steps
	return nil
}
