package networks

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Batch is one training step of the JKOnet* loss (docs/design.md §3.1): B
// coupling pairs x_i → y_i with weight w_i and time step τ_i, all row-major.
// For pair i and subsample set a ∈ {0, 1} the residual is
//
//	r_a(i) = τ_i [∇V(y_i) + β s_i + (1/S) Σ_s ∇U(y_i − y′_{a,i,s})] + (y_i − x_i)
//
// with the terms the model lacks left out (∇V is ∇ₓV([y_i, T_i]) for
// time-potential). With two independent subsamples the loss is
// L = Σ_i w_i ⟨r₀(i), r₁(i)⟩ / Σ_i w_i, an unbiased estimate of
// Σ_i w_i ‖r(i)‖² / Σ_i w_i; with one set (exact means) it is
// Σ_i w_i ‖r₀(i)‖² / Σ_i w_i.
type Batch struct {
	D     int
	X, Y  []float64 // B×D sources x and targets y of the pairs
	W     []float64 // B pair weights w (Σ w > 0)
	Tau   []float64 // B time steps τ
	Score []float64 // B×D density score s(y); read only by variants with β
	T     []float64 // B target times; read only by time-potential
	// S is the number of interaction samples per pair; Others[a] holds, for
	// pair i, the S samples y′_{a,i,s} of the target population
	// (B×S×D). Others[1] == nil means one exact set, used as ‖r₀‖². Read
	// only by variants with U.
	S      int
	Others [2][]float64
}

// Loss is the value of the training loss, with the mean over the pairs of the
// norms of the residual's terms, ‖τ∇V‖, ‖τβs‖, ‖τ mean ∇U‖ and of the residual
// ‖r‖ (the last two averaged over the subsample sets), to tell which term went
// non-finite or exploded.
type Loss struct {
	Value                                      float64
	Potential, Internal, Interaction, Residual float64
}

// check validates the batch for the variant of n and returns the number of
// pairs and of subsample sets (1 without an interaction).
func (b *Batch) check(n *Net) (pairs, sets int, err error) {
	d, k := b.D, n.kind
	pairs = len(b.W)
	field := func(name string, got, want int) error {
		return fmt.Errorf("batch for %s in d = %d: %s has %d values, want %d", n.Kind, n.D, name, got, want)
	}
	switch {
	case d != n.D:
		return 0, 0, fmt.Errorf("batch dimension %d, %s model has %d", d, n.Kind, n.D)
	case pairs == 0:
		return 0, 0, errors.New("empty batch: no pair weights")
	case len(b.X) != pairs*d:
		return 0, 0, field("X", len(b.X), pairs*d)
	case len(b.Y) != pairs*d:
		return 0, 0, field("Y", len(b.Y), pairs*d)
	case len(b.Tau) != pairs:
		return 0, 0, field("Tau", len(b.Tau), pairs)
	case k.internal && len(b.Score) != pairs*d:
		return 0, 0, field("Score", len(b.Score), pairs*d)
	case k.timed && len(b.T) != pairs:
		return 0, 0, field("T", len(b.T), pairs)
	}
	var wsum float64
	for _, w := range b.W {
		wsum += w
	}
	if !(wsum > 0) || math.IsInf(wsum, 0) {
		return 0, 0, fmt.Errorf("batch pair weights sum to %g, want a positive finite sum", wsum)
	}
	if !k.interaction {
		return pairs, 1, nil
	}
	want := pairs * b.S * d
	switch {
	case b.S < 1:
		return 0, 0, fmt.Errorf("batch for %s: %d interaction samples per pair, want at least 1", n.Kind, b.S)
	case len(b.Others[0]) != want:
		return 0, 0, field("Others[0]", len(b.Others[0]), want)
	case b.Others[1] == nil:
		return pairs, 1, nil
	case len(b.Others[1]) != want:
		return 0, 0, field("Others[1]", len(b.Others[1]), want)
	}
	return pairs, 2, nil
}

const (
	// lossChunkRows is about how many points one block of pairs pushes
	// through the interaction network (all S samples of a pair stay in one
	// block), and the block size of the variants without one.
	lossChunkRows = 512
	// lossStripes is the number of stripes, runs of consecutive blocks, that
	// the workers take one at a time and that each sum into their own
	// gradient.
	lossStripes = 16
)

// potentialNet is V's index in the networks of the fused loss (V, then U on
// subsample set a at 1 + a).
const potentialNet = 0

// lossWorker is the private workspace of one goroutine of the fused loss:
// the forward states and per-pair values of its current block of pairs.
type lossWorker struct {
	states  [3]mlpState  // V, U on set 0, U on set 1
	scratch []float64    // backward scratch, rows×Hidden
	rowBuf  []float64    // rows×D: ∇U per sample, then its upstream
	gradV   []float64    // ∇V(y_i) of the block (pairs×D)
	meanU   [2][]float64 // m_a(i) = (1/S) Σ_s ∇U(y_i − y′_{a,i,s})
	upV     []float64    // ∂L/∂∇V(y_i)
	upU     [2][]float64 // ∂L/∂m_a(i)
}

// lossStripe holds the sums over the pairs of one stripe: the parameter
// gradient, the loss and diagnostics, and ∂L/∂β.
type lossStripe struct {
	grad  []float64
	loss  Loss
	dBeta float64
}

// fusedLoss is the workspace of Net.LossGrad. The loss is a sum over pairs
// of terms that depend on the pair alone (Σ w is known beforehand), so each
// block of pairs goes forward through V and U, gets its residuals, and goes
// backward, in one pass and bounded memory. The blocks are cut into
// lossStripes stripes of consecutive blocks, which the workers take as they
// come free; each stripe sums into its own gradient and the stripes are summed
// in order, so the result does not depend on the number of workers or on
// their timing.
type fusedLoss struct {
	d       int
	offsets [3]int // of V, U, U in Params
	workers []lossWorker
	stripes [lossStripes]lossStripe
	next    atomic.Int32 // the next stripe to take
	team    *team

	// The call in progress, cleared after it so the helpers pin nothing.
	batch         *Batch
	nets          [3]MLP // V, U, U
	kind          netKind
	beta, wsum    float64
	sets          int
	pairsPerBlock int
}

// LossGrad computes the JKOnet* loss on the batch (see Batch) for the current
// Params and writes its gradient with respect to Params into grad (same
// length and layout, overwritten). The parameter gradient of the ∇V and ∇U
// terms is the hand-derived backward pass through the input gradient
// (MLP.backward); the gradient of β is Σ_i τ_i ⟨s_i, ∂L/∂r(i)⟩. After the
// first call with the largest batch shape it does not allocate.
func (n *Net) LossGrad(b *Batch, grad []float64) (Loss, error) {
	if want := n.paramCount(); len(n.Params) != want {
		return Loss{}, fmt.Errorf("%s model in d = %d has %d parameters, want %d", n.Kind, n.D, len(n.Params), want)
	}
	if len(grad) != len(n.Params) {
		return Loss{}, fmt.Errorf("gradient buffer has %d values, want %d", len(grad), len(n.Params))
	}
	pairs, sets, err := b.check(n)
	if err != nil {
		return Loss{}, err
	}
	if n.fused == nil {
		n.fused = newFusedLoss(n)
	}
	fl := n.fused
	fl.start(n, b, sets)
	fl.team.run()

	var loss Loss
	var dBeta float64
	clear(grad)
	for _, st := range fl.stripes {
		for i, g := range st.grad {
			grad[i] += g
		}
		loss.Value += st.loss.Value
		loss.Potential += st.loss.Potential
		loss.Internal += st.loss.Internal
		loss.Interaction += st.loss.Interaction
		loss.Residual += st.loss.Residual
		dBeta += st.dBeta
	}
	if i := n.betaIndex(); i >= 0 {
		grad[i] = dBeta
	}
	inv := 1 / float64(pairs)
	loss.Potential *= inv
	loss.Internal *= inv
	loss.Interaction *= inv
	loss.Residual *= inv
	fl.batch, fl.nets = nil, [3]MLP{}
	return loss, nil
}

// newFusedLoss builds the workspace of n with one worker per GOMAXPROCS; the
// helper goroutines stop when n is garbage collected.
func newFusedLoss(n *Net) *fusedLoss {
	fl := &fusedLoss{d: n.D, workers: make([]lossWorker, runtime.GOMAXPROCS(0))}
	fl.offsets[1] = len(n.potential().Params)
	fl.offsets[2] = fl.offsets[1]
	fl.team = newTeam(len(fl.workers), fl.work)
	runtime.AddCleanup(n, (*team).stop, fl.team)
	return fl
}

// start sets up a call: the networks, the block size, the workers' buffers
// grown to it and the stripes' sums cleared.
func (fl *fusedLoss) start(n *Net, b *Batch, sets int) {
	d := fl.d
	fl.batch, fl.kind, fl.beta, fl.sets = b, n.kind, n.Beta(), sets
	fl.wsum = 0
	for _, w := range b.W {
		fl.wsum += w
	}
	fl.nets[potentialNet] = n.potential()
	fl.pairsPerBlock = min(len(b.W), lossChunkRows)
	maxRows := fl.pairsPerBlock
	if n.kind.interaction {
		fl.nets[1], fl.nets[2] = n.interaction(), n.interaction()
		fl.pairsPerBlock = min(len(b.W), max(1, lossChunkRows/b.S))
		maxRows = fl.pairsPerBlock * b.S
	}
	blockValues := fl.pairsPerBlock * d
	for w := range fl.workers {
		wk := &fl.workers[w]
		wk.scratch = growFloats(wk.scratch, maxRows*HiddenWidth)
		wk.rowBuf = growFloats(wk.rowBuf, maxRows*d)
		for _, buf := range []*[]float64{&wk.gradV, &wk.upV, &wk.meanU[0], &wk.meanU[1], &wk.upU[0], &wk.upU[1]} {
			*buf = growFloats(*buf, blockValues)
		}
	}
	for s := range fl.stripes {
		st := &fl.stripes[s]
		st.grad = growFloats(st.grad, len(n.Params))
		clear(st.grad)
		st.loss, st.dBeta = Loss{}, 0
	}
	fl.next.Store(0)
}

// work runs stripes on worker w until none is left.
func (fl *fusedLoss) work(w int) {
	pairs, step := len(fl.batch.W), fl.pairsPerBlock
	blocks := (pairs + step - 1) / step
	for {
		s := int(fl.next.Add(1)) - 1
		if s >= lossStripes {
			return
		}
		for blk := s * blocks / lossStripes; blk < (s+1)*blocks/lossStripes; blk++ {
			fl.block(&fl.workers[w], &fl.stripes[s], blk*step, min((blk+1)*step, pairs))
		}
	}
}

// block runs the pairs [lo, hi) on a worker and adds them to a stripe:
// forward through V and U, residuals, backward.
func (fl *fusedLoss) block(wk *lossWorker, st *lossStripe, lo, hi int) {
	d, pairs := fl.d, hi-lo
	nets := 1
	if fl.kind.interaction {
		nets += fl.sets
	}
	for net := range nets {
		m, state := fl.nets[net], &wk.states[net]
		rows := fl.rows(net, pairs)
		m.forward(state, fl.input(state, net, lo, hi), rows, nil)
		if net == potentialNet {
			m.inputGrad(state, d, wk.gradV[:pairs*d])
			continue
		}
		grads := wk.rowBuf[:rows*d]
		m.inputGrad(state, d, grads)
		fl.meanOverSamples(grads, wk.meanU[net-1][:pairs*d])
	}
	fl.residuals(wk, st, lo, hi)
	for net := range nets {
		m, state := fl.nets[net], &wk.states[net]
		up := wk.upV[:pairs*d]
		if net != potentialNet {
			up = wk.rowBuf[:state.rows*d]
			fl.spreadOverSamples(wk.upU[net-1][:pairs*d], up)
		}
		m.backward(state, wk.scratch, d, up, m.split(st.grad[fl.offsets[net]:]))
	}
}

// rows is the number of network inputs for a block of pairs.
func (fl *fusedLoss) rows(net, pairs int) int {
	if net == potentialNet {
		return pairs
	}
	return pairs * fl.batch.S
}

// input assembles (or views) the network inputs of the pairs [lo, hi),
// rows×In: the targets y_i, [y_i, T_i] for a time-dependent V, or
// y_i − y′_{a,i,s} for U on set a = net − 1.
func (fl *fusedLoss) input(st *mlpState, net, lo, hi int) []float64 {
	b, d, m := fl.batch, fl.d, fl.nets[net]
	rows := fl.rows(net, hi-lo)
	st.grow(rows, m.In, m.Hidden)
	p := st.pBuf[:rows*m.In]
	switch {
	case net == potentialNet && m.In == d:
		return b.Y[lo*d : hi*d]
	case net == potentialNet:
		for i := range rows {
			copy(p[i*m.In:], b.Y[(lo+i)*d:(lo+i+1)*d])
			p[i*m.In+d] = b.T[lo+i]
		}
	default:
		others := b.Others[net-1][lo*b.S*d:]
		for i := range hi - lo {
			y := b.Y[(lo+i)*d : (lo+i+1)*d]
			for s := range b.S {
				q := (i*b.S + s) * d
				for k := range d {
					p[q+k] = y[k] - others[q+k]
				}
			}
		}
	}
	return p
}

// meanOverSamples sets mean_i = (1/S) Σ_s grads_{i,s} for the rows of
// grads, S per pair.
func (fl *fusedLoss) meanOverSamples(grads, mean []float64) {
	d, samples := fl.d, fl.batch.S
	inv := 1 / float64(samples)
	for i := range len(mean) / d {
		out := mean[i*d : (i+1)*d]
		clear(out)
		for s := range samples {
			row := grads[(i*samples+s)*d:]
			for k := range out {
				out[k] += row[k]
			}
		}
		for k := range out {
			out[k] *= inv
		}
	}
}

// spreadOverSamples gives each of the S samples of pair i the upstream of the
// mean, up_{i,s} = upMean_i / S.
func (fl *fusedLoss) spreadOverSamples(upMean, up []float64) {
	d, samples := fl.d, fl.batch.S
	inv := 1 / float64(samples)
	for i := range len(upMean) / d {
		g := upMean[i*d : (i+1)*d]
		for s := range samples {
			row := up[(i*samples+s)*d:]
			for k, v := range g {
				row[k] = v * inv
			}
		}
	}
}

// residuals computes, from ∇V(y_i) and m_a(i) of the block's forward pass,
// the residuals r_a = τ[∇V(y) + β s + m_a] + (y − x), adds the block's loss,
// diagnostics and ∂L/∂β to the stripe's, and sets the upstream gradients of
// the backward pass. With ρ_a = ∂L/∂r_a:
//
//	two sets: L = Σ w ⟨r₀, r₁⟩ / Σ w, ρ₀ = w r₁ / Σ w, ρ₁ = w r₀ / Σ w
//	one set:  L = Σ w ‖r₀‖² / Σ w,    ρ₀ = 2 w r₀ / Σ w
//
// so ∂L/∂∇V(y) = τ Σ_a ρ_a, ∂L/∂m_a = τ ρ_a and ∂L/∂β = Σ_i τ ⟨s, Σ_a ρ_a⟩.
func (fl *fusedLoss) residuals(wk *lossWorker, st *lossStripe, lo, hi int) {
	b, d, k, sets := fl.batch, fl.d, fl.kind, fl.sets
	for i := range hi - lo {
		tau, w := b.Tau[lo+i], b.W[lo+i]/fl.wsum
		var potSq, intSq, value float64
		var uSq, rSq [2]float64
		for c := range d {
			j, bj := i*d+c, (lo+i)*d+c // in the block, in the batch
			pot := tau * wk.gradV[j]
			var internal, score float64
			if k.internal {
				score = b.Score[bj]
				internal = tau * fl.beta * score
			}
			base := pot + internal + b.Y[bj] - b.X[bj]
			var r, rho [2]float64
			for a := range sets {
				var u float64
				if k.interaction {
					u = tau * wk.meanU[a][j]
				}
				r[a] = base + u
				uSq[a] += u * u
				rSq[a] += r[a] * r[a]
			}
			if sets == 2 {
				value += r[0] * r[1]
				rho = [2]float64{w * r[1], w * r[0]}
			} else {
				value += r[0] * r[0]
				rho[0] = 2 * w * r[0]
			}
			wk.upV[j] = tau * (rho[0] + rho[1])
			st.dBeta += tau * score * (rho[0] + rho[1])
			for a := range sets {
				wk.upU[a][j] = tau * rho[a]
			}
			potSq += pot * pot
			intSq += internal * internal
		}
		st.loss.Value += w * value
		st.loss.Potential += math.Sqrt(potSq)
		st.loss.Internal += math.Sqrt(intSq)
		for a := range sets {
			st.loss.Interaction += math.Sqrt(uSq[a]) / float64(sets)
			st.loss.Residual += math.Sqrt(rSq[a]) / float64(sets)
		}
	}
}

// team runs a function on a fixed number of workers: worker 0 on the calling
// goroutine, the others on persistent helper goroutines (a go statement per
// pass would allocate every step). stop ends the helpers.
type team struct {
	wake []chan struct{}
	done sync.WaitGroup
	work func(worker int)
}

func newTeam(workers int, work func(worker int)) *team {
	t := &team{work: work}
	for w := 1; w < workers; w++ {
		wake := make(chan struct{})
		t.wake = append(t.wake, wake)
		go t.helper(w, wake)
	}
	return t
}

func (t *team) helper(w int, wake chan struct{}) {
	for range wake {
		t.work(w)
		t.done.Done()
	}
}

// run runs work(w) for every worker w and returns when all are done.
func (t *team) run() {
	t.done.Add(len(t.wake))
	for _, wake := range t.wake {
		wake <- struct{}{}
	}
	t.work(0)
	t.done.Wait()
}

func (t *team) stop() {
	for _, wake := range t.wake {
		close(wake)
	}
}
