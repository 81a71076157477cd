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
// Data-parallel ranks (Join) stay on the per-kernel path: each step sums the
// gradients across the ranks between the backward kernels and finish_step,
// through the host (MPI: a copy each way and the host's all-reduce, which no
// graph can hold) or NCCL's all-reduce on the legacy stream, with the stop
// flag read back at the epoch's last step.

// pendingStep is a step queued by Step and not yet launched.
type pendingStep struct {
	lo, hi int
	step   uint64
}

// epochGraph is the epoch's captured and instantiated graph, and the stream
// it is launched on.
type epochGraph struct {
	stream *driver.Stream
	exec   *driver.GraphExec
}

// graphs says whether the backend replays epochs as graphs: not with
// JKONET_CUDA_GRAPH=0 or JKONET_CUDA_SYNC=1, on a driver without graphs,
// or as a data-parallel rank.
func (b *backend) graphs() bool {
	return !b.perKernel && b.shard == nil && b.dev.ctx.Driver().HasGraphs()
}

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
	b.flops += float64(hi-lo) * b.flopsPerPotRow
	if b.net.HasInteraction() {
		b.flops += float64(b.rowStart[hi]-b.rowStart[lo]) * b.flopsPerInteractRow
	}
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
	if b.graph == nil {
		if err := b.capture(); err != nil {
			return err
		}
	}
	b.step = steps[0].step
	if err := b.graph.exec.Launch(b.graph.stream); err != nil {
		return fmt.Errorf("epoch %d (steps %d to %d, one graph): %w", b.epochOf(steps[0].step), steps[0].step, steps[len(steps)-1].step, err)
	}
	return nil
}

// capture records the kernels of every step of the epoch, with SetOrder's
// records, on a new stream, and instantiates the graph.
func (b *backend) capture() (err error) {
	stream, err := b.dev.ctx.NewStream()
	if err != nil {
		return err
	}
	g := &epochGraph{stream: stream}
	defer func() {
		if err != nil {
			stream.Destroy()
		}
	}()
	if err := stream.BeginCapture(); err != nil {
		return err
	}
	b.capturing = stream
	batch := b.settings.BatchSize
	var qerr error
	for k, r := range b.records {
		lo := k * batch
		if qerr = b.queue(lo, min(lo+batch, len(b.order)), r.step, true); qerr != nil {
			break
		}
	}
	b.capturing = nil
	graph, err := stream.EndCapture()
	if err = errors.Join(qerr, err); err != nil {
		return err
	}
	defer graph.Destroy()
	if g.exec, err = graph.Instantiate(); err != nil {
		return err
	}
	b.graph = g
	return nil
}

// closeGraph destroys the epoch's graph and its stream.
func (b *backend) closeGraph() error {
	if b.graph == nil {
		return nil
	}
	g := b.graph
	b.graph = nil
	return errors.Join(g.exec.Destroy(), g.stream.Destroy())
}
