package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// Settings are the training hyper-parameters (docs/design.md §4.4).
type Settings struct {
	Epochs    int     // passes over all coupling pairs (1000)
	BatchSize int     // pairs per step, shuffled across transitions (250)
	LR        float64 // Adam learning rate (1e-3)
	Clip      float64 // global-norm clip per network (10); 0 disables
	Seed      uint64  // batch order and interaction samples
	// Samples is the size of each of the two independent interaction
	// subsamples per pair; 0 means the exact mean over the target snapshot,
	// SamplesAuto the backend's default (see DefaultSamples).
	Samples int
	// Stratified draws each subsample stratified along a k-d order of the
	// target population (one sample from each of S equal runs of it) instead
	// of independently: the CPU backends' default estimator, set by them
	// when Samples is SamplesAuto (see DefaultCPUSamples).
	Stratified bool
	// Precision is what a device backend stores and computes in: "float32"
	// or "float64"; "" is the backend's default (the CPU backends compute in
	// float64 only).
	Precision string
	// Freeze names networks ("V", "U", "beta") that are not updated: β is
	// frozen when every density score is 0.
	Freeze []string
}

// SamplesAuto asks the backend for its default interaction estimator.
const SamplesAuto = -1

// StratifiedSampling names stratified subsamples (Settings.Stratified) in
// the training record.
const StratifiedSampling = "stratified"

// Precisions a device backend can compute in.
const (
	Float32 = "float32"
	Float64 = "float64"
)

// DefaultSettings are the reference's settings, with the interaction
// estimator left to the backend (SamplesAuto).
func DefaultSettings() Settings {
	return Settings{Epochs: 1000, BatchSize: 250, LR: 1e-3, Clip: 10, Samples: SamplesAuto}
}

// Validate names the first bad setting as its command-line flag.
func (s Settings) Validate() error {
	switch {
	case s.Epochs < 1:
		return fmt.Errorf("--epochs: expected at least 1, got %d", s.Epochs)
	case s.BatchSize < 1:
		return fmt.Errorf("--batch-size: expected at least 1, got %d", s.BatchSize)
	case !(s.LR > 0) || math.IsInf(s.LR, 0):
		return fmt.Errorf("--lr: expected a finite learning rate > 0, got %v", s.LR)
	case s.Samples < SamplesAuto:
		return fmt.Errorf("--interaction-samples: expected ≥ 0 (0: exact), got %d", s.Samples)
	case !(s.Clip >= 0):
		return fmt.Errorf("clip: expected ≥ 0, got %v", s.Clip)
	case s.Precision != "" && s.Precision != Float32 && s.Precision != Float64:
		return fmt.Errorf("--precision: expected float32 or float64, got %q", s.Precision)
	}
	return nil
}

// EpochReport is what the trainer tells its observer after each epoch.
type EpochReport struct {
	Epoch int     `json:"epoch"` // 1-based
	Loss  float64 `json:"loss"`  // pair-weighted mean of the step losses
	Steps uint64  `json:"steps"`
}

// Observer receives progress; either field may be nil. OnEpoch may return
// an error to stop training (e.g. a failed checkpoint write).
type Observer struct {
	OnEpoch func(r EpochReport, b Backend) error
}

// NonFiniteError stops training when a step's loss is NaN or ±Inf; the
// step is not taken.
type NonFiniteError struct {
	Step  uint64 // the global step number
	Epoch int    // 1-based; set by Train
	Loss  networks.Loss
	Term  string // the first term of the residual that is not finite
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("training stopped at epoch %d (step %d): the loss is %v (%s); try a smaller --lr", e.Epoch, e.Step, e.Loss.Value, e.Term)
}

// CheckFinite returns a NonFiniteError (without epoch) if the loss of step
// is not finite, naming the residual term that blew up.
func CheckFinite(l networks.Loss, step uint64) error {
	if !math.IsNaN(l.Value) && !math.IsInf(l.Value, 0) {
		return nil
	}
	term := "no single term is non-finite: the residual overflowed"
	for _, t := range []struct {
		name string
		v    float64
	}{{"potential term τ∇V", l.Potential}, {"internal term τβ∇log ρ", l.Internal}, {"interaction term τ·mean ∇U", l.Interaction}} {
		if math.IsNaN(t.v) || math.IsInf(t.v, 0) {
			term = fmt.Sprintf("the %s is %v", t.name, t.v)
			break
		}
	}
	return &NonFiniteError{Step: step, Loss: l, Term: term}
}

// TestFault, when a test sets it, is asked after each epoch on each rank
// and its error fails that rank there, as a failed checkpoint would: the
// fault injection point of the tests of one rank's failure.
var TestFault func(rank, epoch int) error

// Train runs the epochs from the backend's current state (fresh, or set by
// SetState with state.Steps steps done) to s.Epochs. Each epoch shuffles
// all pairs with the PCG stream (seed, 2³² + epoch) and steps through them in
// batches; step numbers are global, so a run that stops at any step and
// resumes from its state repeats the same steps. The loss is read once per
// epoch. When ctx is cancelled Train waits for the queued steps and returns
// ctx.Err(), and the backend's State is consistent for a checkpoint. A
// backend that joined a data-parallel group (Parallel) stops where the ranks
// agreed to, after the same step on every rank, and then Train returns
// context.Canceled on every rank.
func Train(ctx context.Context, b Backend, p *Problem, s Settings, obs Observer) error {
	pairs := p.Pairs.Len()
	if pairs == 0 {
		return errors.New("no coupling pairs to train on")
	}
	stepsPerEpoch := uint64((pairs + s.BatchSize - 1) / s.BatchSize)
	st, err := b.State()
	if err != nil {
		return err
	}
	epoch := int(st.Steps / stepsPerEpoch)
	stopped := func() error { return ctx.Err() }
	if par, ok := b.(Parallel); ok && par.Joined() != nil {
		stopped = func() error {
			if par.StopAgreed() {
				return context.Canceled
			}
			return nil
		}
	}
	// local turns an error of this rank's own (not one every rank saw in
	// the sum) into a failure the other ranks see in their next sum, as
	// long as they still step (more: the run is not over).
	local := func(err error, next uint64, more bool) error {
		var nf *NonFiniteError
		var pf *PeerFailedError
		var ce *CollectiveError
		par, joined := b.(Parallel)
		f, ok := b.(PeerFailer)
		if !more || !ok || !joined || par.Joined() == nil || errors.As(err, &nf) || errors.As(err, &pf) || errors.As(err, &ce) || errors.Is(err, context.Canceled) {
			return err
		}
		f.FailPeers(next)
		return err
	}
	order := make([]int, pairs)
	// fail returns a NonFiniteError found anywhere in err's chain, with its
	// epoch filled in (a wrapper's message was formatted before the epoch
	// was known), or err itself.
	fail := func(err error) error {
		var nf *NonFiniteError
		if errors.As(err, &nf) {
			nf.Epoch = int(nf.Step/stepsPerEpoch) + 1
			return nf
		}
		return err
	}
	for ; epoch < s.Epochs; epoch++ {
		for i := range order {
			order[i] = i
		}
		rng := rand.New(rand.NewPCG(s.Seed, 1<<32+uint64(epoch)))
		rng.Shuffle(pairs, func(i, j int) { order[i], order[j] = order[j], order[i] })
		if err := b.SetOrder(order); err != nil {
			return local(err, st.Steps, true)
		}
		first := st.Steps - uint64(epoch)*stepsPerEpoch // > 0 when resuming mid-epoch
		for k := first; k < stepsPerEpoch; k++ {
			if err := stopped(); err != nil {
				if _, lerr := b.Loss(); lerr != nil {
					return fail(lerr)
				}
				return err
			}
			lo, hi := int(k)*s.BatchSize, min(int(k+1)*s.BatchSize, pairs)
			if err := b.Step(lo, hi, uint64(epoch)*stepsPerEpoch+k); err != nil {
				return fail(local(err, uint64(epoch)*stepsPerEpoch+k, true))
			}
		}
		loss, err := b.Loss()
		if err != nil {
			return fail(err)
		}
		st.Steps = uint64(epoch+1) * stepsPerEpoch
		if obs.OnEpoch != nil {
			rep := EpochReport{Epoch: epoch + 1, Loss: loss.Value, Steps: st.Steps}
			if err := obs.OnEpoch(rep, b); err != nil {
				return local(err, st.Steps, epoch+1 < s.Epochs)
			}
		}
		if TestFault != nil {
			rank := 0
			if par, ok := b.(Parallel); ok && par.Joined() != nil {
				rank = par.Joined().Rank()
			}
			if err := TestFault(rank, epoch+1); err != nil {
				return local(err, st.Steps, epoch+1 < s.Epochs)
			}
		}
	}
	return nil
}
