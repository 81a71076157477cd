package driver

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// DevicePtr is an address in device memory (CUdeviceptr).
type DevicePtr uint64

// Add is p offset by bytes.
func (p DevicePtr) Add(bytes uint64) DevicePtr { return p + DevicePtr(bytes) }

// Number is the element types of host slices that CopyToDevice and
// CopyFromDevice move.
type Number interface {
	~float32 | ~float64 | ~int32 | ~int64 | ~uint32 | ~uint64 | ~uint8
}

// Context is a retained primary context of a device. Its methods (and those
// of its modules and functions) may be called from any goroutine, and
// concurrently, except Release, which must come after every other use.
type Context struct {
	d      *Driver
	dev    Device
	handle uintptr // CUcontext; 0 once released
}

var errReleased = errors.New("cuda: the context has been released")

// Device is the context's device.
func (c *Context) Device() Device { return c.dev }

// Driver is the context's driver.
func (c *Context) Driver() *Driver { return c.d }

// Do runs f with the calling goroutine locked to its OS thread and c current
// on that thread, then unlocks the thread. cuCtxSetCurrent is called only
// when c is not already current there (see current): once per OS thread
// and context, not once per call. It is for code
// that calls the driver other than through this package's methods (another
// library bound to the same driver, say) and must find c current. The
// package's own methods need no Do around them: each runs through Do
// itself, so each makes its own context current. Do nests (so f may call
// those methods, of c or of another context; after one of another context,
// that context is the current one). Do returns cuCtxSetCurrent's error, or
// else f's.
func (c *Context) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := c.handle
	if h == 0 {
		return errReleased
	}
	key := threadKey{lib: c.d.path, tid: threadID()}
	if was, ok := current.Load(key); ok && key.tid >= 0 && was.(uintptr) == h {
		return f()
	}
	if err := c.d.call("cuCtxSetCurrent", func() int32 { return c.d.api.cuCtxSetCurrent(h) }); err != nil {
		return err
	}
	current.Store(key, h)
	return f()
}

// current is the context this package last made current on each OS thread
// of each driver library (threadKey → CUcontext). CUDA keeps the current
// context per OS thread and Go runs goroutines on a few threads, so after a
// thread's first call its context rarely needs setting again; a Gettid and
// a map lookup replace a driver call. Only this package sets contexts.
var current sync.Map

// threadKey is an OS thread of a driver library (Driver.path: Drivers
// opened on one library share its per-thread state).
type threadKey struct {
	lib string
	tid int
}

// do runs one driver call with c current.
func (c *Context) do(name string, f func() int32) error {
	return c.Do(func() error { return c.d.call(name, f) })
}

// Release releases the primary context (cuDevicePrimaryCtxRelease_v2). The
// Context, and its modules, functions and allocations, must not be used
// afterwards; a second Release is an error.
func (c *Context) Release() error {
	if c.handle == 0 {
		return errReleased
	}
	err := c.d.call("cuDevicePrimaryCtxRelease_v2", func() int32 {
		return c.d.api.cuDevicePrimaryCtxRelease(c.dev.handle)
	})
	if err == nil {
		current.Range(func(k, v any) bool { // a later context may reuse the handle
			if k.(threadKey).lib == c.d.path && v.(uintptr) == c.handle {
				current.Delete(k)
			}
			return true
		})
		c.handle = 0
	}
	return err
}

// Synchronize waits for all the work queued in the context
// (cuCtxSynchronize). An error of an earlier asynchronous launch surfaces
// here.
func (c *Context) Synchronize() error {
	return c.do("cuCtxSynchronize", func() int32 { return c.d.api.cuCtxSynchronize() })
}

// MemInfo is the device's free and total memory in bytes, as the context
// sees it.
func (c *Context) MemInfo() (free, total uint64, err error) {
	err = c.do("cuMemGetInfo_v2", func() int32 { return c.d.api.cuMemGetInfo(&free, &total) })
	return free, total, err
}

// Alloc allocates bytes of device memory (cuMemAlloc_v2), aligned for any
// element type. The memory is not cleared; see Memset.
func (c *Context) Alloc(bytes uint64) (DevicePtr, error) {
	var p uint64
	err := c.do("cuMemAlloc_v2", func() int32 { return c.d.api.cuMemAlloc(&p, bytes) })
	return DevicePtr(p), err
}

// Free frees memory from Alloc (cuMemFree_v2).
func (c *Context) Free(p DevicePtr) error {
	return c.do("cuMemFree_v2", func() int32 { return c.d.api.cuMemFree(uint64(p)) })
}

// Memset sets bytes bytes at dst to zero (cuMemsetD8_v2).
func (c *Context) Memset(dst DevicePtr, bytes uint64) error {
	if bytes == 0 {
		return nil
	}
	return c.do("cuMemsetD8_v2", func() int32 { return c.d.api.cuMemsetD8(uint64(dst), 0, bytes) })
}

// CopyDevice copies bytes bytes from src to dst, both in device memory
// (cuMemcpyDtoD_v2).
func (c *Context) CopyDevice(dst, src DevicePtr, bytes uint64) error {
	if bytes == 0 {
		return nil
	}
	return c.do("cuMemcpyDtoD_v2", func() int32 { return c.d.api.cuMemcpyDtoD(uint64(dst), uint64(src), bytes) })
}

// CopyToDevice copies src to device memory at dst (cuMemcpyHtoD_v2); dst
// must hold len(src) elements. An empty src copies nothing.
func CopyToDevice[T Number](c *Context, dst DevicePtr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(src))
	n := uint64(len(src)) * uint64(unsafe.Sizeof(src[0]))
	err := c.do("cuMemcpyHtoD_v2", func() int32 { return c.d.api.cuMemcpyHtoD(uint64(dst), p, n) })
	runtime.KeepAlive(src)
	return err
}

// CopyFromDevice copies len(dst) elements from device memory at src into dst
// (cuMemcpyDtoH_v2). An empty dst copies nothing.
func CopyFromDevice[T Number](c *Context, dst []T, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(dst))
	n := uint64(len(dst)) * uint64(unsafe.Sizeof(dst[0]))
	err := c.do("cuMemcpyDtoH_v2", func() int32 { return c.d.api.cuMemcpyDtoH(p, uint64(src), n) })
	runtime.KeepAlive(dst)
	return err
}
