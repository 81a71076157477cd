package cuda

import (
	"errors"
	"fmt"
	"os"

	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// GraphEnv names the environment variable that, set to 0, makes the backend
// launch each kernel of each step (the per-kernel path) instead of
// replaying an epoch's captured graph; JKONET_CUDA_SYNC=1 implies it.
const GraphEnv = "JKONET_CUDA_GRAPH"

// An epoch as one launch. The steps an epoch queues (Step) are held on the
// host until the epoch's loss, its state or a probe is asked for (flush).
// When they are the whole epoch, as engine.Train takes it (batches of
// BatchSize pairs in order, numbered as SetOrder's records), the backend
// replays the epoch's graph: the kernels of every step, captured once from
// a stream (cuStreamBeginCapture) through the same queueing code as the
// per-kernel path, so the two cannot drift apart. The launches of an epoch
// depend only on the backend's shape (pairs, batch size, model), fixed at
// New: what varies (the order, the row prefix sums, each step's number, Σw
// and Adam's corrections) is read from the memory SetOrder fills with one
// copy. A partial epoch (a resumed or stopped one) runs per kernel.
//
// Stream capture rather than the explicit graph API: the capture records
// what queueGradient and queueFinish launch, so the graph holds the same
// launches, arguments and order as the per-kernel path by construction,
// where building nodes by hand would restate every launch. The capture
// runs in the thread-local mode, within one Context.Do (one OS thread):
// a synchronous call of this backend's during the capture fails it, and
// other backends on the device are not disturbed.
//
// Data-parallel ranks (Join) launch graph segments between the collectives:
// each step sums the gradients across the ranks between its backward
// kernels and finish_step, through the host (MPI: a copy each way and the
// host's all-reduce, which no graph can hold) or NCCL's all-reduce on the
// legacy stream, with the stop flag read back at the epoch's last step. So
// a rank's step is two graph launches (its gradient, then finish_step), each
// captured at the step's first epoch and replayed after, around the sum.

// pendingStep is a step queued by Step and not yet launched.
type pendingStep struct {
	lo, hi int
	step   uint64
}

// Parts of a data-parallel step, between its collectives (segment).
const (
	segmentGradient = iota // the shard's gradient and loss terms
	segmentFinish          // finish_step on the summed buffer
)

// graphs says whether the backend launches graphs: not with
// JKONET_CUDA_GRAPH=0 or JKONET_CUDA_SYNC=1, nor on a driver without them.
func (b *backend) graphs() bool { return !b.perKernel && b.dev.ctx.Driver().HasGraphs() }

// epochGraphs says whether the backend replays whole epochs as graphs: a
// data-parallel rank launches segments of steps instead.
func (b *backend) epochGraphs() bool { return b.graphs() && b.shard == nil }

// perKernelFromEnv is whether the environment asks for the per-kernel path.
func perKernelFromEnv() bool { return os.Getenv(GraphEnv) == "0" || os.Getenv(SyncEnv) == "1" }

// wholeEpoch reports whether the pending steps are every step of the epoch
// SetOrder's records describe, in order.
func (b *backend) wholeEpoch() bool {
	if len(b.pending) != len(b.records) || len(b.records) != b.stepsPerEpoch() {
		return false
	}
	batch := b.settings.BatchSize
	for k, s := range b.pending {
		if lo := k * batch; s.lo != lo || s.hi != min(lo+batch, len(b.order)) || s.step != b.records[k].step {
			return false
		}
	}
	return true
}

// pend holds a step for flush, its FLOPs counted now (TakeFLOPs counts
// what is queued).
func (b *backend) pend(lo, hi int, step uint64) {
	b.pending = append(b.pending, pendingStep{lo: lo, hi: hi, step: step})
	b.flops += b.stepFLOPs(lo, hi)
}

// stepFLOPs are the FLOPs of the MLP kernels on order[lo:hi].
func (b *backend) stepFLOPs(lo, hi int) float64 {
	f := float64(hi-lo) * b.flopsPerPotRow
	if b.net.HasInteraction() {
		f += float64(b.rowStart[hi]-b.rowStart[lo]) * b.flopsPerInteractRow
	}
	return f
}

// flush launches the pending steps: the epoch's graph when they are the
// whole epoch, else each kernel of each step. It runs with the context
// current (within Context.Do).
func (b *backend) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	whole := b.wholeEpoch()
	steps := b.pending
	b.pending = b.pending[:0]
	counted := b.flops // pend counted the steps' FLOPs
	defer func() { b.flops = counted }()
	if !whole {
		for _, s := range steps {
			if err := b.queue(s.lo, s.hi, s.step, true); err != nil {
				return err
			}
		}
		return nil
	}
	if b.epoch == nil {
		batch := b.settings.BatchSize
		exec, err := b.capture(func() error {
			for k, r := range b.records {
				lo := k * batch
				if err := b.queue(lo, min(lo+batch, len(b.order)), r.step, true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.epoch = exec
	}
	b.step = steps[0].step
	if err := b.epoch.Launch(b.stream); err != nil {
		return fmt.Errorf("epoch %d (steps %d to %d, one graph): %w", b.epochOf(steps[0].step), steps[0].step, steps[len(steps)-1].step, err)
	}
	return nil
}

// capture records what queue launches, on the backend's stream, and
// instantiates it. It runs within Context.Do, on one OS thread.
func (b *backend) capture(queue func() error) (*driver.GraphExec, error) {
	if b.stream == nil {
		stream, err := b.dev.ctx.NewStream()
		if err != nil {
			return nil, err
		}
		b.stream = stream
	}
	if err := b.stream.BeginCapture(); err != nil {
		return nil, err
	}
	b.capturing = b.stream
	qerr := queue()
	b.capturing = nil
	graph, err := b.stream.EndCapture()
	if err = errors.Join(qerr, err); err != nil {
		return nil, err
	}
	defer graph.Destroy()
	return graph.Instantiate()
}

// segment runs queue, the kernels of part of a data-parallel step between
// its collectives, as a graph: captured at the step's first epoch (the
// step's place in the epoch and part name it) and replayed after, since a
// step's launches are the same every epoch. A step that is not one of
// SetOrder's records (a probe) runs queue's launches.
func (b *backend) segment(lo, hi int, step uint64, part int, update bool, queue func() error) error {
	batch := b.settings.BatchSize
	k := lo / batch
	if !b.graphs() || !update || lo%batch != 0 || k >= len(b.records) || hi != min(lo+batch, len(b.order)) || b.records[k].step != step {
		return queue()
	}
	if b.segments == nil {
		b.segments = map[[2]int]*driver.GraphExec{}
	}
	key := [2]int{k, part}
	exec, ok := b.segments[key]
	if !ok {
		var err error
		if exec, err = b.capture(queue); err != nil {
			return err
		}
		b.segments[key] = exec
	}
	return exec.Launch(b.stream)
}

// memset zeroes bytes at dst, on the stream being captured if any.
func (b *backend) memset(dst driver.DevicePtr, bytes uint64) error {
	if b.capturing != nil {
		return b.capturing.Memset(dst, bytes)
	}
	return b.dev.ctx.Memset(dst, bytes)
}

// closeGraphs destroys the graphs and their stream.
func (b *backend) closeGraphs() error {
	var errs []error
	if b.epoch != nil {
		errs = append(errs, b.epoch.Destroy())
	}
	for _, exec := range b.segments {
		errs = append(errs, exec.Destroy())
	}
	if b.stream != nil {
		errs = append(errs, b.stream.Destroy())
	}
	b.epoch, b.segments, b.stream = nil, nil, nil
	return errors.Join(errs...)
}
