package driver

import (
	"errors"
	"runtime"
	"unsafe"
)

// JIT options of cuModuleLoadDataEx (cuda.h's CUjit_option).
const (
	jitErrorLogBuffer          = 5 // CU_JIT_ERROR_LOG_BUFFER
	jitErrorLogBufferSizeBytes = 6 // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
	jitLogBytes                = 8 << 10
)

// funcAttrMaxDynamicSharedSizeBytes is
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
const funcAttrMaxDynamicSharedSizeBytes = 8

// Module is a loaded module (PTX or cubin) of a Context.
type Module struct {
	ctx    *Context
	handle uintptr // CUmodule; 0 once unloaded
}

// Function is a kernel of a Module.
type Function struct {
	mod    *Module
	name   string
	handle uintptr // CUfunction
}

// Dim3 is a grid or block shape. A zero Y or Z counts as 1, so Dim3{X: n}
// is a one-dimensional shape.
type Dim3 struct{ X, Y, Z uint32 }

var errUnloaded = errors.New("cuda: the module has been unloaded")

// LoadModule loads a module image (cuModuleLoadDataEx): PTX text, which the
// driver compiles for the device, or a cubin. PTX need not end in NUL; a
// copy with one is passed. When the driver refuses the image, the JIT's
// error log, if any, is in the *Error's Detail.
func (c *Context) LoadModule(image []byte) (*Module, error) {
	if len(image) == 0 {
		return nil, errors.New("cuda: LoadModule: empty image")
	}
	if image[len(image)-1] != 0 {
		image = append(image[:len(image):len(image)], 0)
	}
	// The option values are void* slots: a buffer's address, and a size
	// passed by value in the slot itself (the driver writes the log's length
	// back into it). The buffer is referenced from the slice of slots, so
	// that it lives on the heap for the call.
	log := make([]byte, jitLogBytes)
	options := []int32{jitErrorLogBuffer, jitErrorLogBufferSizeBytes}
	values := make([]unsafe.Pointer, 2)
	values[0] = unsafe.Pointer(&log[0])
	*(*uintptr)(unsafe.Pointer(&values[1])) = uintptr(len(log))
	var h uintptr
	err := c.Do(func() error {
		// Do keeps this goroutine on its thread: the error lookups follow
		// the call there.
		code := c.d.api.cuModuleLoadDataEx(&h, &image[0], uint32(len(options)), &options[0], &values[0])
		if code == 0 {
			return nil
		}
		return c.d.newError("cuModuleLoadDataEx", code, goString(&log[0], len(log)))
	})
	// The driver wrote a length into values[1]; clear it before the GC may
	// look at the slot.
	values[1] = nil
	runtime.KeepAlive(image)
	runtime.KeepAlive(log)
	runtime.KeepAlive(options)
	runtime.KeepAlive(values)
	if err != nil {
		return nil, err
	}
	return &Module{ctx: c, handle: h}, nil
}

// Context is the context the module was loaded in.
func (m *Module) Context() *Context { return m.ctx }

// Function looks up the kernel with the given (PTX entry) name
// (cuModuleGetFunction).
func (m *Module) Function(name string) (*Function, error) {
	h := m.handle
	if h == 0 {
		return nil, errUnloaded
	}
	var f uintptr
	err := m.ctx.do("cuModuleGetFunction", func() int32 { return m.ctx.d.api.cuModuleGetFunction(&f, h, name) })
	if err != nil {
		if e, ok := err.(*Error); ok && e.Detail == "" {
			e.Detail = "kernel " + name
		}
		return nil, err
	}
	return &Function{mod: m, name: name, handle: f}, nil
}

// Unload unloads the module (cuModuleUnload). Its functions must not be used
// afterwards; a second Unload is an error.
func (m *Module) Unload() error {
	h := m.handle
	if h == 0 {
		return errUnloaded
	}
	err := m.ctx.do("cuModuleUnload", func() int32 { return m.ctx.d.api.cuModuleUnload(h) })
	if err == nil {
		m.handle = 0
	}
	return err
}

// Name is the kernel's name.
func (f *Function) Name() string { return f.name }

// Module is the module the kernel belongs to.
func (f *Function) Module() *Module { return f.mod }

// SetMaxDynamicSharedMemory allows launches of f with up to bytes of dynamic
// shared memory (cuFuncSetAttribute with
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES). Needed above 48 KiB, up
// to the device's MaxSharedMemoryPerBlockOptin less the kernel's static
// shared memory.
func (f *Function) SetMaxDynamicSharedMemory(bytes int) error {
	c := f.mod.ctx
	return c.do("cuFuncSetAttribute", func() int32 {
		return c.d.api.cuFuncSetAttribute(f.handle, funcAttrMaxDynamicSharedSizeBytes, int32(bytes))
	})
}

// Launch queues f on the context's default stream (cuLaunchKernel) with
// sharedBytes of dynamic shared memory per block. args points to the
// kernel's one argument, a struct whose Go layout must match the C one (the
// project's kernel argument structs have only 8-byte fields, so a Go struct
// of uint64/int64/float64/DevicePtr fields in the same order does). The
// driver copies the argument during the call, so args may be reused as soon
// as Launch returns. A nil args launches a kernel without arguments.
//
// The launch is asynchronous on a GPU: a fault in the kernel surfaces from a
// later call such as Synchronize or CopyFromDevice.
func (f *Function) Launch(grid, block Dim3, sharedBytes uint32, args unsafe.Pointer) error {
	return f.LaunchOn(nil, grid, block, sharedBytes, args)
}

func (d Dim3) norm() Dim3 {
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}
