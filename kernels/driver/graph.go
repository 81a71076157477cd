package driver

import (
	"errors"
	"runtime"
	"unsafe"
)

// graphAPI holds the stream and graph entry points, bound when the library
// has them all (CUDA 11.4 and newer, and the emulator).
type graphAPI struct {
	cuStreamCreate              func(stream *uintptr, flags uint32) int32
	cuStreamDestroy             func(stream uintptr) int32
	cuStreamSynchronize         func(stream uintptr) int32
	cuStreamBeginCapture        func(stream uintptr, mode int32) int32
	cuStreamEndCapture          func(stream uintptr, graph *uintptr) int32
	cuGraphInstantiateWithFlags func(exec *uintptr, graph uintptr, flags uint64) int32
	cuGraphLaunch               func(exec, stream uintptr) int32
	cuGraphExecDestroy          func(exec uintptr) int32
	cuGraphDestroy              func(graph uintptr) int32
	cuMemsetD8Async             func(dst uint64, value uint8, count uint64, stream uintptr) int32
}

// captureModeThreadLocal is CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: while a
// stream captures, the capturing thread's calls that would synchronise
// with it (synchronous copies, the legacy stream) fail and invalidate the
// capture, instead of running outside the graph; other threads (another
// backend on the device) are not refused, as in the global mode.
const captureModeThreadLocal = 1

var errNoGraphs = errors.New("cuda: the driver has no stream capture or graphs (CUDA 11.4 or newer)")

// HasGraphs reports whether the driver can capture streams into graphs and
// launch them.
func (d *Driver) HasGraphs() bool { return d.graphs.cuGraphLaunch != nil }

// Stream is a stream of a Context (cuStreamCreate): work queued on it runs
// in order, after the work of the legacy default stream queued before it
// and before the default stream's work queued after it (a blocking stream).
type Stream struct {
	ctx    *Context
	handle uintptr // CUstream; 0 once destroyed
}

// Graph is a captured graph (CUgraph).
type Graph struct {
	ctx    *Context
	handle uintptr
}

// GraphExec is an instantiated graph (CUgraphExec), launched as one unit.
type GraphExec struct {
	ctx    *Context
	handle uintptr
}

// NewStream creates a blocking stream.
func (c *Context) NewStream() (*Stream, error) {
	if !c.d.HasGraphs() {
		return nil, errNoGraphs
	}
	var h uintptr
	if err := c.do("cuStreamCreate", func() int32 { return c.d.graphs.cuStreamCreate(&h, 0) }); err != nil {
		return nil, err
	}
	return &Stream{ctx: c, handle: h}, nil
}

// Destroy destroys the stream once its work is done.
func (s *Stream) Destroy() error {
	h := s.handle
	s.handle = 0
	return s.ctx.do("cuStreamDestroy_v2", func() int32 { return s.ctx.d.graphs.cuStreamDestroy(h) })
}

// Synchronize waits for the stream's work; an error of an earlier
// asynchronous launch surfaces here.
func (s *Stream) Synchronize() error {
	return s.ctx.do("cuStreamSynchronize", func() int32 { return s.ctx.d.graphs.cuStreamSynchronize(s.handle) })
}

// BeginCapture starts capturing the work queued on s into a graph instead
// of running it (cuStreamBeginCapture_v2, thread-local mode), until
// EndCapture. The caller keeps to one OS thread from BeginCapture to
// EndCapture (Context.Do), so that the mode covers its calls.
func (s *Stream) BeginCapture() error {
	return s.ctx.do("cuStreamBeginCapture_v2", func() int32 {
		return s.ctx.d.graphs.cuStreamBeginCapture(s.handle, captureModeThreadLocal)
	})
}

// EndCapture ends the capture and returns the graph of what was queued.
func (s *Stream) EndCapture() (*Graph, error) {
	var g uintptr
	err := s.ctx.do("cuStreamEndCapture", func() int32 { return s.ctx.d.graphs.cuStreamEndCapture(s.handle, &g) })
	if err != nil {
		return nil, err
	}
	return &Graph{ctx: s.ctx, handle: g}, nil
}

// Memset queues a zeroing of bytes bytes at dst on s (cuMemsetD8Async).
func (s *Stream) Memset(dst DevicePtr, bytes uint64) error {
	if bytes == 0 {
		return nil
	}
	return s.ctx.do("cuMemsetD8Async", func() int32 { return s.ctx.d.graphs.cuMemsetD8Async(uint64(dst), 0, bytes, s.handle) })
}

// Instantiate makes the graph launchable (cuGraphInstantiateWithFlags);
// the graph may be destroyed after.
func (g *Graph) Instantiate() (*GraphExec, error) {
	var e uintptr
	err := g.ctx.do("cuGraphInstantiateWithFlags", func() int32 {
		return g.ctx.d.graphs.cuGraphInstantiateWithFlags(&e, g.handle, 0)
	})
	if err != nil {
		return nil, err
	}
	return &GraphExec{ctx: g.ctx, handle: e}, nil
}

// Destroy destroys the graph.
func (g *Graph) Destroy() error {
	return g.ctx.do("cuGraphDestroy", func() int32 { return g.ctx.d.graphs.cuGraphDestroy(g.handle) })
}

// Launch queues the whole graph on s (cuGraphLaunch): one launch.
func (e *GraphExec) Launch(s *Stream) error {
	return e.ctx.do("cuGraphLaunch", func() int32 { return e.ctx.d.graphs.cuGraphLaunch(e.handle, s.handle) })
}

// Destroy destroys the instantiated graph.
func (e *GraphExec) Destroy() error {
	return e.ctx.do("cuGraphExecDestroy", func() int32 { return e.ctx.d.graphs.cuGraphExecDestroy(e.handle) })
}

// LaunchOn is Launch on stream s (nil: the legacy default stream); on a
// capturing stream it adds the launch to the graph, with a copy of args.
func (f *Function) LaunchOn(s *Stream, grid, block Dim3, sharedBytes uint32, args unsafe.Pointer) error {
	var stream uintptr
	if s != nil {
		stream = s.handle
	}
	c := f.mod.ctx
	grid, block = grid.norm(), block.norm()
	var params *unsafe.Pointer
	if args != nil {
		params = &[]unsafe.Pointer{args}[0]
	}
	err := c.do("cuLaunchKernel", func() int32 {
		return c.d.api.cuLaunchKernel(f.handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
			sharedBytes, stream, params, nil)
	})
	runtime.KeepAlive(params)
	runtime.KeepAlive(args)
	if e, ok := err.(*Error); ok && e.Detail == "" {
		e.Detail = "kernel " + f.name
	}
	return err
}
