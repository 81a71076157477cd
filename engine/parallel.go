package engine

import (
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
)

// Parallel is implemented by backends that can train as one rank of a
// data-parallel group. Every rank holds the whole problem and runs the same
// Train (same order, same step numbers); each step, a rank computes its
// contiguous share of the batch (Shard), the ranks sum the flat gradient
// and the loss with the collective, and every rank takes the same clipped
// Adam update. The gradient of the batch's weighted mean is
//
//	g = Σ_r (W_r/W) g_r,  W_r = Σ_{i ∈ shard r} w_i,  W = Σ_r W_r,
//
// with g_r the gradient of shard r's weighted mean, so each rank scales its
// part by W_r/W before the sum. Interaction samples are keyed by (seed,
// step, global pair, slot), so a rank draws for its pairs exactly what one
// process would: N ranks train the same model as one process, up to the
// order of the floating-point sums. No randomness is per rank.
type Parallel interface {
	// Join makes the backend rank g.Rank() of g.Size(). stop says whether
	// this rank was asked to stop (a signal); it is asked at every step
	// whose sum goes through the host (or, where the sums stay on the
	// device, at each epoch's last step, so that the host does not wait for
	// the device every step) and its answer rides in that step's sum, so
	// StopAgreed turns true on every rank after the same step. The backend
	// does not close g.
	Join(g collective.Group, stop func() bool) error
	// Joined is the group the backend joined, nil if none.
	Joined() collective.Group
	// StopAgreed reports whether some rank asked to stop at or before the
	// last step.
	StopAgreed() bool
}

// Shard is rank's part [slo, shi) of the batch [lo, hi) split among size
// ranks in contiguous slices: rank r takes lo + ⌊n·r/size⌋ up to lo +
// ⌊n·(r+1)/size⌋, n = hi − lo (empty when n < size for some ranks).
func Shard(lo, hi, rank, size int) (slo, shi int) {
	n := hi - lo
	return lo + n*rank/size, lo + n*(rank+1)/size
}

// PeerFailer is implemented by a joined backend that can tell the other
// ranks this one failed (ShardSum.Fail): Train does so on an error of its
// own while the others still step. Through host sums (MPI) the flag rides
// the sum of the step they are at, so every rank stops within one step;
// through device sums (NCCL) the failing rank joins the epoch's remaining
// sums with a zero gradient and the flag, which the others read at the
// epoch's last step, so every rank stops at the end of that epoch.
type PeerFailer interface {
	FailPeers(step uint64) error
}
