// Package driver is a minimal binding of the CUDA driver API (libcuda), opened
// at run time with purego, so that a binary built with CGO_ENABLED=0 runs on
// machines with no GPU and no CUDA driver: there Open or Init simply returns
// an error.
//
// The binding covers what jkonet-gpu needs: device queries, the device's
// primary context, device memory, PTX modules, kernel launches, and streams
// captured into graphs that launch as one unit (graph.go). Every project
// kernel takes one by-value struct argument; see Function.Launch.
//
// The same code drives the project's CPU emulator (bin/libcuda-emu.so, a
// stand-in libcuda built by `make emulator`): open it by path, or point the
// JKONET_CUDA_LIB environment variable at it. The emulator exports
// jkEmuLastError, whose text, when present, is added to errors as
// Error.Detail.
//
// # Threads
//
// CUDA keeps the current context per OS thread, and goroutines move between
// OS threads. Every Context, Module and Function method therefore runs with
// its goroutine locked to its OS thread and the context current (Context.Do,
// which sets it only on a thread where this package has not set it yet);
// callers need not care which thread they are on.
package driver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/internal/dlopen"
)

// DefaultLibrary is the driver library Open loads when given no path and
// JKONET_CUDA_LIB is unset.
const DefaultLibrary = "libcuda.so.1"

// LibraryEnv names the environment variable that overrides DefaultLibrary.
const LibraryEnv = "JKONET_CUDA_LIB"

// api holds the driver entry points, typed after their C signatures:
// CUresult is a C int (int32 here, so that the upper half of the return
// register is ignored), CUdevice an int, CUcontext/CUmodule/CUfunction/
// CUstream opaque pointers kept as uintptr (they point into the driver's
// memory, never Go's), CUdeviceptr and size_t 64-bit.
type api struct {
	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(version *int32) int32
	cuDeviceGetCount          func(count *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, length int32, dev int32) int32
	cuDeviceGetAttribute      func(value *int32, attr int32, dev int32) int32
	cuDeviceTotalMem          func(bytes *uint64, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuModuleLoadDataEx        func(mod *uintptr, image *byte, numOptions uint32, options *int32, values *unsafe.Pointer) int32
	cuModuleGetFunction       func(fn *uintptr, mod uintptr, name string) int32
	cuModuleUnload            func(mod uintptr) int32
	cuFuncSetAttribute        func(fn uintptr, attr int32, value int32) int32
	cuMemAlloc                func(ptr *uint64, bytes uint64) int32
	cuMemFree                 func(ptr uint64) int32
	cuMemcpyHtoD              func(dst uint64, src unsafe.Pointer, bytes uint64) int32
	cuMemcpyDtoH              func(dst unsafe.Pointer, src uint64, bytes uint64) int32
	cuMemcpyDtoD              func(dst, src uint64, bytes uint64) int32
	cuMemsetD8                func(dst uint64, value uint8, count uint64) int32
	cuMemGetInfo              func(free, total *uint64) int32
	cuLaunchKernel            func(fn uintptr, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes uint32, stream uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32
	cuGetErrorName            func(code int32, str **byte) int32
	cuGetErrorString          func(code int32, str **byte) int32

	// jkEmuLastError is exported only by the project's CPU emulator; nil
	// for NVIDIA's driver. So are the other jkEmu functions (nil for an
	// older emulator too).
	jkEmuLastError func() *byte
	jkEmuSetOrder  func(order string) int32
	jkEmuStats     func(buf *byte, capacity uint64, reset int32) uint64
	jkEmuInject    func(kernel string, n int64) int32
}

// Driver is an opened CUDA driver library. Its methods are safe for
// concurrent use.
type Driver struct {
	path   string
	api    api
	graphs graphAPI
}

// Open loads the CUDA driver library at path and resolves the entry points
// the package uses. An empty path means $JKONET_CUDA_LIB if set, else
// DefaultLibrary (found through the dynamic loader's search path). A library
// that cannot be loaded, or that lacks an entry point, is an error; nothing
// is called in the library (not even cuInit) until the caller does.
func Open(path string) (*Driver, error) {
	if path == "" {
		path = os.Getenv(LibraryEnv)
	}
	if path == "" {
		path = DefaultLibrary
	}
	d := &Driver{path: path}
	a := &d.api
	lib, err := dlopen.Open("the CUDA driver", path, dlopen.Local, []dlopen.Func{
		{Name: "cuInit", Fn: &a.cuInit},
		{Name: "cuDriverGetVersion", Fn: &a.cuDriverGetVersion},
		{Name: "cuDeviceGetCount", Fn: &a.cuDeviceGetCount},
		{Name: "cuDeviceGet", Fn: &a.cuDeviceGet},
		{Name: "cuDeviceGetName", Fn: &a.cuDeviceGetName},
		{Name: "cuDeviceGetAttribute", Fn: &a.cuDeviceGetAttribute},
		{Name: "cuDeviceTotalMem_v2", Fn: &a.cuDeviceTotalMem},
		{Name: "cuDevicePrimaryCtxRetain", Fn: &a.cuDevicePrimaryCtxRetain},
		{Name: "cuDevicePrimaryCtxRelease_v2", Fn: &a.cuDevicePrimaryCtxRelease},
		{Name: "cuCtxSetCurrent", Fn: &a.cuCtxSetCurrent},
		{Name: "cuCtxSynchronize", Fn: &a.cuCtxSynchronize},
		{Name: "cuModuleLoadDataEx", Fn: &a.cuModuleLoadDataEx},
		{Name: "cuModuleGetFunction", Fn: &a.cuModuleGetFunction},
		{Name: "cuModuleUnload", Fn: &a.cuModuleUnload},
		{Name: "cuFuncSetAttribute", Fn: &a.cuFuncSetAttribute},
		{Name: "cuMemAlloc_v2", Fn: &a.cuMemAlloc},
		{Name: "cuMemFree_v2", Fn: &a.cuMemFree},
		{Name: "cuMemcpyHtoD_v2", Fn: &a.cuMemcpyHtoD},
		{Name: "cuMemcpyDtoH_v2", Fn: &a.cuMemcpyDtoH},
		{Name: "cuMemcpyDtoD_v2", Fn: &a.cuMemcpyDtoD},
		{Name: "cuMemsetD8_v2", Fn: &a.cuMemsetD8},
		{Name: "cuMemGetInfo_v2", Fn: &a.cuMemGetInfo},
		{Name: "cuLaunchKernel", Fn: &a.cuLaunchKernel},
		{Name: "cuGetErrorName", Fn: &a.cuGetErrorName},
		{Name: "cuGetErrorString", Fn: &a.cuGetErrorString},
	}...)
	if err != nil {
		return nil, err
	}
	g := &d.graphs
	if lib.Bind([]dlopen.Func{
		{Name: "cuStreamCreate", Fn: &g.cuStreamCreate},
		{Name: "cuStreamDestroy_v2", Fn: &g.cuStreamDestroy},
		{Name: "cuStreamSynchronize", Fn: &g.cuStreamSynchronize},
		{Name: "cuStreamBeginCapture_v2", Fn: &g.cuStreamBeginCapture},
		{Name: "cuStreamEndCapture", Fn: &g.cuStreamEndCapture},
		{Name: "cuGraphInstantiateWithFlags", Fn: &g.cuGraphInstantiateWithFlags},
		{Name: "cuGraphLaunch", Fn: &g.cuGraphLaunch},
		{Name: "cuGraphExecDestroy", Fn: &g.cuGraphExecDestroy},
		{Name: "cuGraphDestroy", Fn: &g.cuGraphDestroy},
		{Name: "cuMemsetD8Async", Fn: &g.cuMemsetD8Async},
	}...) != nil {
		d.graphs = graphAPI{} // an older driver: no graphs (HasGraphs)
	}
	_ = lib.Bind(dlopen.Func{Name: "jkEmuLastError", Fn: &a.jkEmuLastError}) // the emulator's only
	if a.jkEmuLastError != nil {
		_ = lib.Bind(dlopen.Func{Name: "jkEmuSetOrder", Fn: &a.jkEmuSetOrder})
		_ = lib.Bind(dlopen.Func{Name: "jkEmuStats", Fn: &a.jkEmuStats})
		_ = lib.Bind(dlopen.Func{Name: "jkEmuInjectFault", Fn: &a.jkEmuInject})
	}
	return d, nil
}

// Path is the library path or name Open loaded.
func (d *Driver) Path() string { return d.path }

// IsEmulator reports whether the library is the project's CPU emulator
// (it exports jkEmuLastError) rather than NVIDIA's driver.
func (d *Driver) IsEmulator() bool { return d.api.jkEmuLastError != nil }

// SetThreadOrder sets, on the emulator, the order in which the threads of a
// block run between barriers in later launches: "forward" (threadIdx
// order), "reverse" or "random:SEED" (the JKONET_EMU_ORDER setting). A kernel
// missing a barrier between a write and another thread's read gives other
// results in forward or in reverse order. On NVIDIA's driver it is an error.
func (d *Driver) SetThreadOrder(order string) error {
	if d.api.jkEmuSetOrder == nil {
		return errors.New("cuda: thread order is a setting of the jkonet CUDA emulator only")
	}
	return d.call("jkEmuSetOrder", func() int32 { return d.api.jkEmuSetOrder(order) })
}

// EmulatorStats are the emulator's counters of what it was asked to do
// (JKONET_EMU_STATS writes the same JSON to a file).
type EmulatorStats struct {
	Launches      map[string]uint64 `json:"launches"` // cuLaunchKernel's, by kernel
	LaunchesTotal uint64            `json:"launches_total"`
	GraphLaunches uint64            `json:"graph_launches"`
	// GraphKernels are the kernel nodes graph launches ran, by kernel.
	GraphKernels      map[string]uint64 `json:"graph_kernels"`
	GraphKernelsTotal uint64            `json:"graph_kernels_total"`
	SetCurrent        uint64            `json:"set_current"` // cuCtxSetCurrent calls
	// Synchronizations: cuCtxSynchronize calls and device-to-host copies
	// (each waits for the work queued before it).
	Synchronizations uint64       `json:"synchronizations"`
	CtxSynchronize   uint64       `json:"ctx_synchronize"`
	Copies           CopyCounters `json:"copies"` // calls
	Bytes            CopyCounters `json:"bytes"`
}

// CopyCounters count copies each way, and memsets.
type CopyCounters struct {
	HtoD   uint64 `json:"htod"`
	DtoH   uint64 `json:"dtoh"`
	DtoD   uint64 `json:"dtod"`
	Memset uint64 `json:"memset"`
}

// Stats reads the emulator's counters, and zeroes them when reset is set.
// On NVIDIA's driver it is an error.
func (d *Driver) Stats(reset bool) (EmulatorStats, error) {
	var st EmulatorStats
	if d.api.jkEmuStats == nil {
		return st, errors.New("cuda: counters are kept by the jkonet CUDA emulator only")
	}
	r := int32(0)
	if reset {
		r = 1
	}
	buf := make([]byte, 64<<10)
	n := d.api.jkEmuStats(&buf[0], uint64(len(buf)), r)
	if n >= uint64(len(buf)) {
		return st, fmt.Errorf("cuda: the emulator's counters take %d bytes, more than %d", n, len(buf))
	}
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return st, fmt.Errorf("cuda: the emulator's counters: %w", err)
	}
	return st, nil
}

// InjectFault makes the nth launch of kernel (n > 0, counted from now) fail
// on the emulator as a kernel fault does on a GPU: the launch returns
// success, nothing runs from it on, and the next synchronisation
// (Synchronize, CopyFromDevice) returns ErrLaunchFailed without naming the
// kernel; after that the context works again (a GPU's would not). n = 0
// cancels. JKONET_EMU_FAULT=KERNEL:N does the same from cuInit. On NVIDIA's
// driver it is an error.
func (d *Driver) InjectFault(kernel string, n int) error {
	if d.api.jkEmuInject == nil {
		return errors.New("cuda: fault injection is a setting of the jkonet CUDA emulator only")
	}
	return d.call("jkEmuInjectFault", func() int32 { return d.api.jkEmuInject(kernel, int64(n)) })
}

// ThreadOrders are the orders every emulator test runs its kernels in.
var ThreadOrders = []string{"forward", "reverse", "random:1"}

// Close does nothing: the library stays loaded for the life of the process.
// Unloading a CUDA driver (dlclose) while a context, module or allocation
// may still be live, or while the driver's own threads run, can crash the
// process, and a process rarely has a reason to unload it. Release contexts
// to free the GPU's resources.
func (d *Driver) Close() error { return nil }

// Init initialises the driver (cuInit(0)). It must succeed before any other
// call; on a machine without a usable GPU it returns the driver's *Error
// (CUDA_ERROR_NO_DEVICE, CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, ...).
func (d *Driver) Init() error {
	return d.call("cuInit", func() int32 { return d.api.cuInit(0) })
}

// Version is the CUDA version the driver supports, as 1000*major+10*minor
// (12040 is CUDA 12.4).
func (d *Driver) Version() (int, error) {
	var v int32
	err := d.call("cuDriverGetVersion", func() int32 { return d.api.cuDriverGetVersion(&v) })
	return int(v), err
}

// DeviceCount is the number of CUDA devices.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	err := d.call("cuDeviceGetCount", func() int32 { return d.api.cuDeviceGetCount(&n) })
	return int(n), err
}

// Device returns the device with the given ordinal, 0 ≤ ordinal <
// DeviceCount().
func (d *Driver) Device(ordinal int) (Device, error) {
	var dev int32
	err := d.call("cuDeviceGet", func() int32 { return d.api.cuDeviceGet(&dev, int32(ordinal)) })
	if err != nil {
		return Device{}, err
	}
	return Device{d: d, ordinal: ordinal, handle: dev}, nil
}

// call runs one driver call f, named name for errors, and turns a
// non-success result into an *Error. It keeps the goroutine on its OS
// thread from the call to the error lookups, so that an emulator's
// thread-local last-error text belongs to this call.
func (d *Driver) call(name string, f func() int32) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	code := f()
	if code == 0 {
		return nil
	}
	return d.newError(name, code, "")
}

// newError builds the *Error for a failed call; extra (a JIT log, say) is
// appended to the emulator's detail text. It must run on the thread that
// made the call.
func (d *Driver) newError(name string, code int32, extra string) *Error {
	e := &Error{Call: name, Code: int(code)}
	if d.api.jkEmuLastError != nil {
		e.Detail = strings.TrimSpace(goString(d.api.jkEmuLastError(), 0))
	}
	var s *byte
	if d.api.cuGetErrorName(code, &s) == 0 {
		e.Name = goString(s, 0)
	}
	s = nil
	if d.api.cuGetErrorString(code, &s) == 0 {
		e.Description = goString(s, 0)
	}
	if extra = strings.TrimSpace(extra); extra != "" && !strings.Contains(e.Detail, extra) {
		if e.Detail != "" {
			e.Detail += "; "
		}
		e.Detail += extra
	}
	return e
}

// goString copies the NUL-terminated C string at p (reading at most max
// bytes when max > 0); nil is "".
func goString(p *byte, max int) string {
	if p == nil {
		return ""
	}
	n := 0
	for (max <= 0 || n < max) && *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// oneLine joins the non-empty lines of s with "; ".
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return strings.TrimSpace(s)
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
