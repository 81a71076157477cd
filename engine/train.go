package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Settings are the training hyper-parameters (DESIGN.md §1).
type Settings struct {
	Epochs    int     // passes over all coupling pairs (1000)
	BatchSize int     // pairs per step, shuffled across transitions (250)
	LR        float64 // Adam learning rate (1e-3)
	Clip      float64 // global-norm clip per network (10); 0 disables
	Seed      uint64  // batch order and interaction samples
	// Samples is the size of each of the two independent interaction
	// subsamples per pair; 0 means the exact mean over the target snapshot.
	Samples int
	// Freeze names networks ("V", "U", "beta") that are not updated: β is
	// frozen when every density score is 0.
	Freeze []string
}

// DefaultSettings are the reference's settings, with two subsamples of 4
// interaction samples per pair: unbiased, and cheap enough on the CPU that
// jkonet-star's 1000 epochs on the default problem take minutes, not the
// 20 minutes that 16 samples take on 2 cores (each sample is one network
// evaluation with second-order backprop).
func DefaultSettings() Settings {
	return Settings{Epochs: 1000, BatchSize: 250, LR: 1e-3, Clip: 10, Samples: 4}
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
	case s.Samples < 0:
		return fmt.Errorf("--interaction-samples: expected ≥ 0 (0: exact), got %d", s.Samples)
	case !(s.Clip >= 0):
		return fmt.Errorf("clip: expected ≥ 0, got %v", s.Clip)
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

// NonFiniteError stops training when a step's loss is NaN or ±Inf.
type NonFiniteError struct {
	Epoch int
	Loss  models.Loss
	Term  string // the first term of the residual that is not finite
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("training stopped at epoch %d: the loss is %v (%s); try a smaller --lr", e.Epoch, e.Loss.Value, e.Term)
}

// checkFinite returns a NonFiniteError (without epoch) if the loss is not
// finite, naming the residual term that blew up.
func checkFinite(l models.Loss) error {
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
	return &NonFiniteError{Loss: l, Term: term}
}

// Train runs the epochs from the backend's current state (fresh, or set by
// SetState with state.Epoch epochs and state.Steps steps done) to
// s.Epochs. Each epoch shuffles all pairs with the PCG stream (seed, epoch)
// and steps through them in batches; step numbers are global, so a run that
// stops at any step and resumes from its state repeats the same steps. When
// ctx is cancelled Train returns ctx.Err() after the current step, and the
// backend's State is consistent for a checkpoint.
func Train(ctx context.Context, b Backend, p *Problem, s Settings, obs Observer) error {
	pairs := p.Pairs.Len()
	stepsPerEpoch := uint64((pairs + s.BatchSize - 1) / s.BatchSize)
	st := b.State()
	epoch := int(st.Steps / stepsPerEpoch)
	order := make([]int, pairs)
	for ; epoch < s.Epochs; epoch++ {
		for i := range order {
			order[i] = i
		}
		rng := rand.New(rand.NewPCG(s.Seed, 1<<32+uint64(epoch)))
		rng.Shuffle(pairs, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var lossSum, wSum float64
		first := st.Steps - uint64(epoch)*stepsPerEpoch // > 0 when resuming mid-epoch
		for k := first; k < stepsPerEpoch; k++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch := order[k*uint64(s.BatchSize) : min((k+1)*uint64(s.BatchSize), uint64(pairs))]
			step := uint64(epoch)*stepsPerEpoch + k
			l, err := b.Step(batch, step)
			if err != nil {
				if nf, ok := err.(*NonFiniteError); ok {
					nf.Epoch = epoch + 1
				}
				return err
			}
			var w float64
			for _, q := range batch {
				w += p.Pairs.W[q]
			}
			lossSum += w * l.Value
			wSum += w
		}
		st.Steps = uint64(epoch+1) * stepsPerEpoch
		if obs.OnEpoch != nil {
			rep := EpochReport{Epoch: epoch + 1, Loss: lossSum / wSum, Steps: st.Steps}
			if err := obs.OnEpoch(rep, b); err != nil {
				return err
			}
		}
	}
	return nil
}
