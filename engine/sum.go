package engine

import (
	"fmt"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// The loss terms of the data-parallel sum buffer (SumLayout), in the order
// of the loss terms of the CUDA kernels' residual blocks (kernels/step.cu,
// lossPartial), which write them there in device memory.
const (
	// TermLoss is the rank's part of the batch's loss: W_r·L_r on the CPU,
	// divided by W after the sum (ShardSum.Loss), and (W_r/W)·L_r from the
	// kernels, which weigh each pair by w_i/W.
	TermLoss = iota
	// TermPotential to TermResidual are the sums over the rank's pairs of
	// ‖τ∇V‖, ‖τβs‖, ‖τm‖ and ‖r‖ (networks.Loss's terms times the pairs).
	TermPotential
	TermInternal
	TermInteraction
	TermResidual
	// TermBeta is ∂L/∂β where the gradient part leaves β's entry to it
	// (the kernels' finish_step writes it from the summed term); the CPU
	// sums β's gradient with the others and leaves this term 0.
	TermBeta
	// LossTerms is the number of loss terms.
	LossTerms
)

// SumLayout places the parts of the buffer that the ranks of a
// data-parallel group sum at every step (Parallel), for a model of Params
// parameters:
//
//	[ gradient (Params) | loss terms (LossTerms) | stop (1) ]
//
// The gradient is Σ_r (W_r/W)·g_r, the loss terms are those named Term…,
// and stop is the number of ranks that were asked to stop. Every backend
// sums this buffer: the CPU in host memory, the CUDA backend in device
// memory (NCCL) or through a host copy (MPI).
type SumLayout struct {
	Params int
}

// Len is the buffer's length, Params + LossTerms + 1.
func (l SumLayout) Len() int { return l.Params + LossTerms + 1 }

// Terms is the offset of the loss terms, Params.
func (l SumLayout) Terms() int { return l.Params }

// Stop is the offset of the stop flag, Params + LossTerms.
func (l SumLayout) Stop() int { return l.Params + LossTerms }

// ShardSum is one rank's side of the data-parallel sum of a backend that
// joined a group (Parallel.Join): the group, the rank's stop request, a
// host copy of the sum buffer and whether some rank asked to stop. A nil
// *ShardSum is a backend that has not joined: its Group is nil and
// StopAgreed false.
type ShardSum struct {
	SumLayout
	// Buf is the host copy of the sum buffer, Len values.
	Buf []float64

	group  collective.Group
	stop   func() bool
	agreed bool
	failed int // ranks that said they failed (FailFlag)
}

// FailFlag is what a rank that failed (an I/O error, a failed checkpoint)
// adds at the stop offset of its last sum (ShardSum.Fail), so that the
// others stop after the same step: a stop request adds 1, and there are
// fewer than FailFlag ranks.
const FailFlag = 1 << 20

// PeerFailedError is what the other ranks return when some rank failed:
// that rank's own line says why.
type PeerFailedError struct {
	Step  uint64
	Ranks int // how many ranks failed
}

func (e *PeerFailedError) Error() string {
	return fmt.Sprintf("step %d: stopped because %d other rank(s) failed (their own line says why)", e.Step, e.Ranks)
}

// CollectiveError is a sum that failed in the collective itself.
type CollectiveError struct {
	Step uint64
	Err  error
}

func (e *CollectiveError) Error() string { return fmt.Sprintf("step %d: %v", e.Step, e.Err) }
func (e *CollectiveError) Unwrap() error { return e.Err }

// NewShardSum is the sum of a model with params parameters over group g;
// stop says whether this rank was asked to stop (nil: never).
func NewShardSum(g collective.Group, stop func() bool, params int) *ShardSum {
	l := SumLayout{Params: params}
	return &ShardSum{SumLayout: l, Buf: make([]float64, l.Len()), group: g, stop: stop}
}

// Group is the group the backend joined, nil if none.
func (s *ShardSum) Group() collective.Group {
	if s == nil {
		return nil
	}
	return s.group
}

// Shard is this rank's part [slo, shi) of the batch [lo, hi) (Shard).
func (s *ShardSum) Shard(lo, hi int) (slo, shi int) {
	return Shard(lo, hi, s.group.Rank(), s.group.Size())
}

// Pack fills Buf with this rank's share of a step whose batch weighs w (Σw
// over its pairs): g is the gradient of the rank's shard's weighted mean,
// l its loss (terms averaged over its pairs), wr its weight and pairs its
// size. The gradient goes in as (W_r/W)·g_r, the loss as W_r·L_r and each
// term as pairs·term; an empty shard (pairs 0) adds zeros. The stop flag
// is left 0: Sum sets it.
func (s *ShardSum) Pack(g []float64, l networks.Loss, wr, w float64, pairs int) {
	clear(s.Buf)
	if pairs == 0 {
		return
	}
	f := wr / w
	for i, v := range g {
		s.Buf[i] = v * f
	}
	m, t := float64(pairs), s.Buf[s.Terms():s.Stop()]
	t[TermLoss], t[TermPotential], t[TermInternal] = wr*l.Value, m*l.Potential, m*l.Internal
	t[TermInteraction], t[TermResidual] = m*l.Interaction, m*l.Residual
}

// Grad is the gradient part of Buf.
func (s *ShardSum) Grad() []float64 { return s.Buf[:s.Params] }

// Loss is the loss of a batch of the given weight w and pairs from the
// summed terms in Buf: the loss W·L / W, the other terms Σ pairs·term /
// pairs.
func (s *ShardSum) Loss(w float64, pairs int) networks.Loss {
	t, n := s.Buf[s.Terms():s.Stop()], float64(pairs)
	return networks.Loss{Value: t[TermLoss] / w, Potential: t[TermPotential] / n, Internal: t[TermInternal] / n,
		Interaction: t[TermInteraction] / n, Residual: t[TermResidual] / n}
}

// StopFlag is what this rank adds at the stop offset: 1 when it was asked
// to stop, else 0. It asks stop once a call.
func (s *ShardSum) StopFlag() float64 {
	if s.stop != nil && s.stop() {
		return 1
	}
	return 0
}

// Agree records the summed stop flag of step: some rank asked to stop when
// it is positive, and some rank failed when it is FailFlag or more (then a
// *PeerFailedError).
func (s *ShardSum) Agree(stop float64, step uint64) error {
	s.agreed = stop > 0
	if s.failed = int(stop / FailFlag); s.failed > 0 {
		return &PeerFailedError{Step: step, Ranks: s.failed}
	}
	return nil
}

// Fail tells the other ranks that this one failed at step: it joins their
// sum of step with FailFlag and nothing else, so that every rank stops
// there with a *PeerFailedError. Only a group that sums host buffers can
// carry it; the caller calls Fail only while the others still step. A
// backend whose sums stay in device memory (NCCL), where the others read the
// stop flag once an epoch, carries FailFlag itself, in each of the epoch's
// remaining sums (the CUDA backend's FailPeers).
func (s *ShardSum) Fail(step uint64) error {
	c, ok := s.group.(collective.Collective)
	if !ok {
		return fmt.Errorf("collective %s cannot carry a failure", s.group.Name())
	}
	clear(s.Buf)
	s.Buf[s.Stop()] = FailFlag
	return c.AllReduceSum(s.Buf)
}

// StopAgreed reports whether some rank asked to stop at or before the last
// step summed (Parallel.StopAgreed).
func (s *ShardSum) StopAgreed() bool { return s != nil && s.agreed }

// Sum sets this rank's stop flag in Buf, sums Buf over the ranks with the
// group's host collective, and agrees on the summed stop flag.
func (s *ShardSum) Sum(step uint64) error {
	c, ok := s.group.(collective.Collective)
	if !ok {
		return fmt.Errorf("step %d: collective %s does not sum host buffers", step, s.group.Name())
	}
	s.Buf[s.Stop()] = s.StopFlag()
	if err := c.AllReduceSum(s.Buf); err != nil {
		return &CollectiveError{Step: step, Err: err}
	}
	return s.Agree(s.Buf[s.Stop()], step)
}

// EpochMean accumulates the losses of the steps since the last
// Backend.Loss: with W a step's Σw and n its pairs, the epoch's loss and
// terms are
//
//	L = Σ_steps W·L_step / Σ_steps W,  term = Σ_steps n·term_step / Σ_steps n.
//
// Its fields are the CUDA kernels' epoch accumulators (kernels/step.cu,
// enum Accum, ACC_LOSS to ACC_PAIRS, in that order), which sum them in
// device memory.
type EpochMean struct {
	Loss, Weight                               float64 // Σ_steps W·L and Σ_steps W
	Potential, Internal, Interaction, Residual float64 // Σ_steps n·term
	Pairs                                      float64 // Σ_steps n
}

// Add adds a step of the given pairs with weights summing to w.
func (e *EpochMean) Add(l networks.Loss, w float64, pairs int) {
	e.Loss += w * l.Value
	e.Weight += w
	n := float64(pairs)
	e.Potential += n * l.Potential
	e.Internal += n * l.Internal
	e.Interaction += n * l.Interaction
	e.Residual += n * l.Residual
	e.Pairs += n
}

// Mean is the epoch's loss; with no pairs the terms are 0 and the loss
// 0/0.
func (e *EpochMean) Mean() networks.Loss {
	inv := 1 / max(e.Pairs, 1)
	return networks.Loss{Value: e.Loss / e.Weight, Potential: e.Potential * inv, Internal: e.Internal * inv,
		Interaction: e.Interaction * inv, Residual: e.Residual * inv}
}
