package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// The CPU emulator: $JKONET_EMULATOR_LIB (make test sets it), else
// $JKONET_CUDA_LIB, else ../../bin/libcuda-emu.so (make emulator). Where it is absent the tests skip, unless
// JKONET_REQUIRE_EMULATOR=1.
var emu struct {
	once sync.Once
	d    *Driver
	err  error // why there is no emulator
	skip bool  // the err is a reason to skip, not a failure
}

func emulator(t *testing.T) *Driver {
	t.Helper()
	emu.once.Do(func() {
		path := os.Getenv("JKONET_EMULATOR_LIB")
		if path == "" {
			path = os.Getenv(LibraryEnv)
		}
		if path == "" {
			path = filepath.Join("..", "..", "bin", "libcuda-emu.so")
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
			}
		}
		// A file that is not there, or a bare library name the loader does
		// not find, is an absent emulator; one that is there but does not
		// load is a failure.
		isFile := strings.ContainsRune(path, os.PathSeparator)
		if _, err := os.Stat(path); isFile && err != nil {
			emu.err, emu.skip = fmt.Errorf("no CPU emulator at %s (make emulator)", path), true
			return
		}
		d, err := Open(path)
		if err != nil {
			emu.err, emu.skip = err, !isFile
			return
		}
		if !d.IsEmulator() {
			emu.err, emu.skip = fmt.Errorf("%s=%s is not the CPU emulator", LibraryEnv, path), true
			return
		}
		if err := d.Init(); err != nil {
			emu.err = err
			return
		}
		emu.d = d
	})
	if emu.d == nil {
		if emu.skip && os.Getenv("JKONET_REQUIRE_EMULATOR") != "1" {
			t.Skip(emu.err)
		}
		t.Fatal(emu.err)
	}
	return emu.d
}

// emuContext retains the emulator's primary context and loads the self-test
// module, for the duration of the test. The tests do not run in parallel,
// so each ends with the context released: a launch failure (which poisons
// the context) does not outlive its test.
func emuContext(t *testing.T) (*Context, *Module) {
	t.Helper()
	d := emulator(t)
	dev, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dev.PrimaryContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
	})
	mod, err := c.LoadModule(readPTX(t, selftestPTX))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// After a launch failure (TestEmulatorDivergence) the context
		// refuses everything until released, which frees the module too.
		if err := mod.Unload(); err != nil && !IsCode(err, ErrLaunchFailed) {
			t.Errorf("Unload: %v", err)
		}
	})
	return c, mod
}

func TestEmulatorDevice(t *testing.T) {
	d := emulator(t)
	if v, err := d.Version(); err != nil || v < 11000 {
		t.Errorf("Version: %d, %v", v, err)
	}
	if n, err := d.DeviceCount(); err != nil || n != 1 {
		t.Errorf("DeviceCount: %d, %v", n, err)
	}
	dev, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Ordinal() != 0 || dev.Driver() != d {
		t.Errorf("device %v", dev)
	}
	name, err := dev.Name()
	if err != nil || name == "" || strings.ContainsRune(name, 0) {
		t.Errorf("Name: %q, %v", name, err)
	}
	t.Logf("device 0: %s", name)
	for _, a := range []struct {
		attr     Attribute
		name     string
		min, max int
	}{
		{MaxThreadsPerBlock, "MaxThreadsPerBlock", 256, 1024},
		{WarpSize, "WarpSize", 32, 32},
		{ClockRate, "ClockRate", 1, 1 << 30},
		{MultiprocessorCount, "MultiprocessorCount", 1, 1 << 16},
		{ComputeCapabilityMajor, "ComputeCapabilityMajor", 8, 99},
		{ComputeCapabilityMinor, "ComputeCapabilityMinor", 0, 9},
		{MaxSharedMemoryPerBlock, "MaxSharedMemoryPerBlock", 48 << 10, 48 << 10},
		{MaxSharedMemoryPerBlockOptin, "MaxSharedMemoryPerBlockOptin", 48 << 10, 1 << 20},
		{MaxBlockDimX, "MaxBlockDimX", 1024, 1024},
		{MaxGridDimX, "MaxGridDimX", 65535, 1<<31 - 1},
	} {
		v, err := dev.Attribute(a.attr)
		if err != nil || v < a.min || v > a.max {
			t.Errorf("%s: %d, %v; want [%d, %d]", a.name, v, err, a.min, a.max)
		}
	}
	if total, err := dev.TotalMem(); err != nil || total == 0 {
		t.Errorf("TotalMem: %d, %v", total, err)
	}
	// The emulator refuses attributes it does not model, with a detail.
	_, err = dev.Attribute(Attribute(12345))
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrInvalidValue || e.Detail == "" {
		t.Errorf("unknown attribute: %v", err)
	}
	if _, err := d.Device(1); !IsCode(err, ErrInvalidDevice) {
		t.Errorf("Device(1): %v", err)
	}
	if _, err := (Device{}).Name(); err == nil {
		t.Error("the zero Device has a name")
	}
}

func TestEmulatorMemory(t *testing.T) {
	c, _ := emuContext(t)
	free, total, err := c.MemInfo()
	if err != nil || total == 0 || free > total {
		t.Fatalf("MemInfo: %d, %d, %v", free, total, err)
	}

	f32 := []float32{1.5, -2.25, 3e-7, 4e20, 0, -0}
	p32, err := c.Alloc(uint64(len(f32)) * 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := CopyToDevice(c, p32, f32); err != nil {
		t.Fatal(err)
	}
	got32 := make([]float32, len(f32))
	if err := CopyFromDevice(c, got32, p32); err != nil {
		t.Fatal(err)
	}
	for i := range f32 {
		if got32[i] != f32[i] {
			t.Errorf("float32 [%d]: %v, want %v", i, got32[i], f32[i])
		}
	}

	f64 := make([]float64, 1000)
	for i := range f64 {
		f64[i] = float64(i)*1.25 - 300
	}
	p64, err := c.Alloc(uint64(len(f64)) * 8)
	if err != nil {
		t.Fatal(err)
	}
	if free2, _, err := c.MemInfo(); err != nil || free2 > free-uint64(len(f64))*8 {
		t.Errorf("MemInfo after Alloc: free %d (was %d), %v", free2, free, err)
	}
	if err := CopyToDevice(c, p64, f64); err != nil {
		t.Fatal(err)
	}
	// A copy at an offset, device to device, and a partial clear.
	q64, err := c.Alloc(uint64(len(f64)) * 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CopyDevice(q64, p64, uint64(len(f64))*8); err != nil {
		t.Fatal(err)
	}
	if err := c.Memset(q64.Add(10*8), 5*8); err != nil {
		t.Fatal(err)
	}
	got64 := make([]float64, len(f64)-5)
	if err := CopyFromDevice(c, got64, q64.Add(5*8)); err != nil {
		t.Fatal(err)
	}
	for i, v := range got64 {
		want := f64[i+5]
		if i+5 >= 10 && i+5 < 15 {
			want = 0
		}
		if v != want {
			t.Errorf("float64 [%d]: %v, want %v", i+5, v, want)
		}
	}
	// The other element types, through the same bytes.
	u8 := make([]uint8, 16)
	if err := CopyFromDevice(c, u8, q64.Add(10*8)); err != nil || !bytes.Equal(u8, make([]uint8, 16)) {
		t.Errorf("uint8: %v, %v", u8, err)
	}
	i64 := []int64{-1, 1 << 62}
	if err := CopyToDevice(c, q64, i64); err != nil {
		t.Fatal(err)
	}
	u32 := make([]uint32, 4)
	if err := CopyFromDevice(c, u32, q64); err != nil || u32[0] != 0xFFFFFFFF || u32[1] != 0xFFFFFFFF || u32[3] != 1<<30 {
		t.Errorf("uint32: %x, %v", u32, err)
	}
	// Empty slices and zero lengths are no-ops, even at a bad address.
	if err := CopyToDevice(c, 0, []float64{}); err != nil {
		t.Error(err)
	}
	if err := CopyFromDevice[int32](c, nil, 0); err != nil {
		t.Error(err)
	}
	if err := c.CopyDevice(0, 0, 0); err != nil {
		t.Error(err)
	}
	// Out of bounds is the driver's error.
	if err := CopyFromDevice(c, make([]float32, len(f32)+1), p32); !IsCode(err, ErrInvalidValue) {
		t.Errorf("copy past the end: %v", err)
	}
	// So is freeing twice.
	for _, p := range []DevicePtr{p32, p64, q64} {
		if err := c.Free(p); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Free(p64)
	var e *Error
	if !errors.As(err, &e) || e.Call != "cuMemFree_v2" || e.Code != ErrInvalidValue || e.Detail == "" {
		t.Errorf("second Free: %v", err)
	}
	t.Logf("second Free: %v", err)
	// Too much memory.
	_, err = c.Alloc(total + 1)
	if !IsCode(err, ErrOutOfMemory) {
		t.Errorf("Alloc(total+1): %v", err)
	}
	t.Logf("Alloc(total+1): %v", err)
}

func TestEmulatorBlockSum(t *testing.T) {
	c, mod := emuContext(t)
	runBlockSum(t, c, mod, 5)
}

func TestEmulatorAxpy(t *testing.T) {
	c, mod := emuContext(t)
	f, err := mod.Function("selftest_axpy")
	if err != nil {
		t.Fatal(err)
	}
	const n = 10007
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i%97 - 48)
		y[i] = float32(i % 13)
	}
	dx, err := c.Alloc(n * 4)
	if err != nil {
		t.Fatal(err)
	}
	dy, err := c.Alloc(n * 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := CopyToDevice(c, dx, x); err != nil {
		t.Fatal(err)
	}
	if err := CopyToDevice(c, dy, y); err != nil {
		t.Fatal(err)
	}
	args := axpyArgs{x: dx, y: dy, a: -2.5, n: n}
	if err := f.Launch(Dim3{X: 5}, Dim3{X: 128}, 0, unsafe.Pointer(&args)); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, n)
	if err := CopyFromDevice(c, got, dy); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if want := y[i] + float32(args.a)*x[i]; got[i] != want {
			t.Fatalf("y[%d] = %v, want %v", i, got[i], want)
		}
	}
	if err := c.Free(dx); err != nil {
		t.Error(err)
	}
	if err := c.Free(dy); err != nil {
		t.Error(err)
	}
}

func TestEmulatorDivergence(t *testing.T) {
	c, mod := emuContext(t)
	f, err := mod.Function("selftest_diverge")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Alloc(2 * 8)
	if err != nil {
		t.Fatal(err)
	}
	args := divergeArgs{out: out}
	err = f.Launch(Dim3{X: 2}, Dim3{X: 64}, 0, unsafe.Pointer(&args))
	if err == nil {
		err = c.Synchronize()
	}
	checkOneLine(t, err)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not a *driver.Error", err)
	}
	if e.Code != ErrLaunchFailed || e.Name != "CUDA_ERROR_LAUNCH_FAILED" || !strings.Contains(e.Detail, "__syncthreads") ||
		!strings.Contains(e.Detail, "selftest_diverge") || !strings.Contains(err.Error(), e.Detail) {
		t.Errorf("divergence error %+v", *e)
	}
	t.Logf("divergence: %v", err)
	// As on a GPU, the failure poisons the context until it is released
	// (emuContext's cleanup does).
	if err := c.Synchronize(); !IsCode(err, ErrLaunchFailed) {
		t.Errorf("Synchronize after the failure: %v", err)
	}
}

// After TestEmulatorDivergence released the poisoned context, a new one
// works.
func TestEmulatorAfterDivergence(t *testing.T) {
	c, mod := emuContext(t)
	runBlockSum(t, c, mod, 1)
}

func TestEmulatorBadModule(t *testing.T) {
	c, _ := emuContext(t)
	ptx := readPTX(t, selftestPTX)
	nl := bytes.IndexByte(ptx, '\n')
	i := bytes.Index(ptx[:nl], []byte(" sha256 "))
	if i < 0 {
		t.Fatalf("%s: no hash on the first line", selftestPTX)
	}
	bad := bytes.Clone(ptx)
	i += len(" sha256 ")
	bad[i] ^= 1 // '5' <-> '4', 'a' <-> '`': no longer the hash
	badHash := string(bad[i : i+64])

	// Without jkEmuLastError, so that the text can only come from the JIT
	// error log buffer.
	noEmu := *c.d
	noEmu.api.jkEmuLastError = nil
	c2 := *c
	c2.d = &noEmu
	for _, tc := range []struct {
		name string
		c    *Context
	}{{"with jkEmuLastError", c}, {"JIT log only", &c2}} {
		m, err := tc.c.LoadModule(bad)
		if m != nil {
			t.Errorf("%s: the altered module loaded", tc.name)
		}
		checkOneLine(t, err)
		var e *Error
		if !errors.As(err, &e) || e.Call != "cuModuleLoadDataEx" || e.Code != ErrInvalidImage {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(e.Detail, badHash) || !strings.Contains(err.Error(), e.Detail) {
			t.Errorf("%s: the error does not carry the JIT log: %v", tc.name, err)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// Not PTX at all.
	if _, err := c.LoadModule([]byte("garbage")); !IsCode(err, ErrInvalidImage) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := c.LoadModule(nil); err == nil {
		t.Error("an empty image loaded")
	}
}

func TestEmulatorModule(t *testing.T) {
	c, _ := emuContext(t)
	// A NUL-terminated image is passed as is.
	ptx := append(readPTX(t, selftestPTX), 0)
	mod, err := c.LoadModule(ptx)
	if err != nil {
		t.Fatal(err)
	}
	if mod.Context() != c {
		t.Error("Module.Context")
	}
	_, err = mod.Function("selftest_nonesuch")
	var e *Error
	if !errors.As(err, &e) || e.Call != "cuModuleGetFunction" || e.Code != ErrNotFound ||
		!strings.Contains(err.Error(), "selftest_nonesuch") {
		t.Errorf("unknown kernel: %v", err)
	}
	t.Logf("unknown kernel: %v", err)
	f, err := mod.Function("selftest_axpy")
	if err != nil {
		t.Fatal(err)
	}
	if f.Module() != mod {
		t.Error("Function.Module")
	}
	// Over the opt-in limit, and a launch over the default limit.
	if err := f.SetMaxDynamicSharedMemory(1 << 30); !IsCode(err, ErrInvalidValue) {
		t.Errorf("SetMaxDynamicSharedMemory(1 GiB): %v", err)
	}
	args := axpyArgs{}
	if err := f.Launch(Dim3{X: 1}, Dim3{X: 32}, 64<<10, unsafe.Pointer(&args)); !IsCode(err, ErrInvalidValue) {
		t.Errorf("launch with 64 KiB of shared memory: %v", err)
	}
	if err := f.Launch(Dim3{X: 1}, Dim3{X: 2048}, 0, unsafe.Pointer(&args)); !IsCode(err, ErrInvalidValue) {
		t.Errorf("launch of 2048 threads a block: %v", err)
	}
	if err := mod.Unload(); err != nil {
		t.Fatal(err)
	}
	if err := mod.Unload(); err == nil {
		t.Error("second Unload succeeded")
	}
	if _, err := mod.Function("selftest_axpy"); err == nil {
		t.Error("Function on an unloaded module succeeded")
	}
}

// Many goroutines at once, each with the context made current on whatever
// OS thread it runs: copies, launches and Do blocks that run several calls.
func TestEmulatorConcurrent(t *testing.T) {
	c, mod := emuContext(t)
	f, err := mod.Function("selftest_axpy")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, rounds, n = 32, 20, 1000
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				x, y := make([]float32, n), make([]float32, n)
				for i := range x {
					x[i] = float32(g)
					y[i] = float32(i)
				}
				for r := range rounds {
					var dx, dy DevicePtr
					// A Do block with several calls, nesting the methods' own Do.
					err := c.Do(func() error {
						var err error
						if dx, err = c.Alloc(n * 4); err != nil {
							return err
						}
						if dy, err = c.Alloc(n * 4); err != nil {
							return err
						}
						if err := CopyToDevice(c, dx, x); err != nil {
							return err
						}
						return CopyToDevice(c, dy, y)
					})
					if err != nil {
						return err
					}
					args := axpyArgs{x: dx, y: dy, a: 2, n: n}
					if err := f.Launch(Dim3{X: 2}, Dim3{X: 64}, 0, unsafe.Pointer(&args)); err != nil {
						return err
					}
					got := make([]float32, n)
					if err := CopyFromDevice(c, got, dy); err != nil {
						return err
					}
					for i, v := range got {
						if want := float32(i) + 2*float32(g); v != want {
							return fmt.Errorf("goroutine %d round %d: y[%d] = %v, want %v", g, r, i, v, want)
						}
					}
					if err := errors.Join(c.Free(dx), c.Free(dy)); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestEmulatorRelease(t *testing.T) {
	d := emulator(t)
	dev, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dev.PrimaryContext()
	if err != nil {
		t.Fatal(err)
	}
	if c.Device().Ordinal() != 0 || c.Driver() != d {
		t.Error("Context.Device / Driver")
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err == nil {
		t.Error("second Release succeeded")
	}
	if _, err := c.Alloc(8); err == nil {
		t.Error("Alloc on a released context succeeded")
	}
	if err := c.Do(func() error { return nil }); err == nil {
		t.Error("Do on a released context succeeded")
	}
}

// TestEmulatorGuardPages: a kernel that writes one element past the end of
// an allocation stops the process with one line naming the kernel, the
// block, the thread and how far past which allocation it wrote (run in a
// child process, since the fault ends it); the parent, whose fault handler
// the emulator chained, still recovers from a nil dereference of its own.
func TestEmulatorGuardPages(t *testing.T) {
	if os.Getenv("JKONET_EMU_GUARD_CHILD") == "1" {
		c, mod := emuContext(t)
		f, err := mod.Function("selftest_axpy")
		if err != nil {
			t.Fatal(err)
		}
		const n = 1001 // an odd count of floats: the allocation ends 4 bytes off a multiple of 8
		dx, err := c.Alloc(n * 4)
		if err != nil {
			t.Fatal(err)
		}
		dy, err := c.Alloc((n + 1) * 4)
		if err != nil {
			t.Fatal(err)
		}
		args := axpyArgs{x: dx, y: dy, a: 1, n: n + 1} // reads x[n], one past the end
		err = f.Launch(Dim3{X: 2}, Dim3{X: 512}, 0, unsafe.Pointer(&args))
		t.Fatalf("the out-of-bounds launch returned: %v", err)
	}
	emulator(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestEmulatorGuardPages$", "-test.count=1")
	cmd.Env = append(os.Environ(), "JKONET_EMU_GUARD_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 70 {
		t.Fatalf("child: %v, want exit status 70; output:\n%s", err, out)
	}
	want := regexp.MustCompile(`jkonet CUDA emulator: kernel selftest_axpy, block \(1,0,0\), thread \(489,0,0\): illegal address 0x[0-9a-f]+, 0 bytes past the end of the allocation \[0x[0-9a-f]+, \+4004\)`)
	if !want.Match(out) {
		t.Errorf("child's output does not name the kernel, block, thread and allocation:\n%s", out)
	}
	// Go's own faults still reach the Go runtime.
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("a nil dereference did not panic")
			}
		}()
		var p *int
		_ = *p
	}()
}

// TestEmulatorThreadOrder: every order runs the block sum right; the
// setting refuses other text in one line.
func TestEmulatorThreadOrder(t *testing.T) {
	d := emulator(t)
	defer d.SetThreadOrder("forward")
	for _, o := range append(ThreadOrders, "random:18446744073709551615", "random") {
		if err := d.SetThreadOrder(o); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		TestEmulatorBlockSum(t)
	}
	for _, bad := range []string{"sideways", "random:", "random:x", "random:-1", "reversed"} {
		err := d.SetThreadOrder(bad)
		if err == nil || !strings.Contains(err.Error(), "is not forward, reverse or random:SEED") {
			t.Errorf("%q: %v", bad, err)
		}
		checkOneLine(t, err)
	}
}

// TestEmulatorStats: the counters see exactly the block sum's calls (3
// repetitions: a memset, a launch, a synchronisation and a read each, after
// one upload), in process (Stats) and in the JKONET_EMU_STATS file that a
// child process leaves behind.
func TestEmulatorStats(t *testing.T) {
	const n, grid, reps = 100003, 7, 3
	want := EmulatorStats{Launches: map[string]uint64{"selftest_block_sum": reps}, LaunchesTotal: reps,
		Synchronizations: 2 * reps, CtxSynchronize: reps,
		Copies: CopyCounters{HtoD: 1, DtoH: reps, Memset: reps},
		Bytes:  CopyCounters{HtoD: n * 8, DtoH: reps * grid * 8, Memset: reps * grid * 8}}
	check := func(what string, got EmulatorStats) {
		t.Helper()
		got.SetCurrent = 0 // once for each OS thread Go ran the calls on
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: counters %+v, want %+v", what, got, want)
		}
	}
	if path := os.Getenv("JKONET_EMU_STATS"); path != "" {
		if os.Getenv("JKONET_EMU_STATS_CHILD") != "1" {
			t.Skip("JKONET_EMU_STATS is set for this process")
		}
		c, mod := emuContext(t)
		runBlockSum(t, c, mod, reps)
		return
	}
	d := emulator(t)
	if _, err := d.Stats(true); err != nil {
		t.Fatal(err)
	}
	c, mod := emuContext(t)
	runBlockSum(t, c, mod, reps)
	st, err := d.Stats(true)
	if err != nil {
		t.Fatal(err)
	}
	check("in process", st)

	file := filepath.Join(t.TempDir(), "stats.json")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestEmulatorStats$", "-test.count=1")
	cmd.Env = append(os.Environ(), "JKONET_EMU_STATS="+file, "JKONET_EMU_STATS_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile EmulatorStats
	if err := json.Unmarshal(data, &fromFile); err != nil {
		t.Fatalf("%s: %v\n%s", file, err, data)
	}
	check("JKONET_EMU_STATS", fromFile)
}

// TestEmulatorLaunchBounds: a block larger than the kernel's
// __launch_bounds__ is refused as a GPU refuses it (out of resources),
// naming the bound: reduce_partials of step.cu is bounded at 256 threads.
func TestEmulatorLaunchBounds(t *testing.T) {
	c, _ := emuContext(t)
	mod, err := c.LoadModule(readPTX(t, "../step.sm90.ptx"))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Unload()
	f, err := mod.Function("reduce_partials")
	if err != nil {
		t.Fatal(err)
	}
	var args [9]uint64 // never read: the launch is refused first
	err = f.Launch(Dim3{X: 1}, Dim3{X: 512}, 0, unsafe.Pointer(&args))
	if !IsCode(err, ErrLaunchOutOfResources) || !strings.Contains(err.Error(), "more threads than its __launch_bounds__ (256)") {
		t.Fatalf("a block of 512: %v", err)
	}
	checkOneLine(t, err)
}

// TestEmulatorGraph: work queued on a capturing stream is recorded, not
// run, with a copy of each kernel's argument; the instantiated graph runs
// it at each launch, counted as one graph launch and its kernel nodes; a
// synchronous copy on the capturing thread fails and invalidates the
// capture (thread-local mode), while another thread's copy goes through.
func TestEmulatorGraph(t *testing.T) {
	d := emulator(t)
	c, mod := emuContext(t)
	f, err := mod.Function("selftest_axpy")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	x, y, z := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i], z[i] = float32(i%7), float32(i%5), 1
	}
	var dx, dy, dz DevicePtr
	for _, a := range []struct {
		p *DevicePtr
		v []float32
	}{{&dx, x}, {&dy, y}, {&dz, z}} {
		if *a.p, err = c.Alloc(n * 4); err != nil {
			t.Fatal(err)
		}
		if err := CopyToDevice(c, *a.p, a.v); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Destroy()
	var exec *GraphExec
	err = c.Do(func() error { // one OS thread from BeginCapture to EndCapture
		if err := stream.BeginCapture(); err != nil {
			return err
		}
		args := axpyArgs{x: dx, y: dy, a: 2, n: n}
		if err := f.LaunchOn(stream, Dim3{X: 2}, Dim3{X: 256}, 0, unsafe.Pointer(&args)); err != nil {
			return err
		}
		args.a = 1000 // the graph holds a copy
		if err := stream.Memset(dz, n*4); err != nil {
			return err
		}
		other := make(chan error)
		go func() { other <- CopyToDevice(c, dz.Add(4*(n-1)), []float32{1}) }()
		if err := <-other; err != nil {
			return fmt.Errorf("another thread's copy during the capture: %w", err)
		}
		g, err := stream.EndCapture()
		if err != nil {
			return err
		}
		defer g.Destroy()
		exec, err = g.Instantiate()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Destroy()
	got := make([]float32, n)
	if err := CopyFromDevice(c, got, dy); err != nil || got[3] != y[3] {
		t.Fatalf("after the capture y[3] = %v (%v), want %v: the capture ran", got[3], err, y[3])
	}
	if _, err := d.Stats(true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := exec.Launch(stream); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Synchronize(); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stats(true)
	if err != nil {
		t.Fatal(err)
	}
	if st.GraphLaunches != 2 || st.GraphKernels["selftest_axpy"] != 2 || st.LaunchesTotal != 0 || st.Copies.Memset != 2 {
		t.Errorf("counters after two graph launches: %+v", st)
	}
	gz := make([]float32, n)
	if err := CopyFromDevice(c, got, dy); err != nil {
		t.Fatal(err)
	}
	if err := CopyFromDevice(c, gz, dz); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if want := y[i] + 4*x[i]; got[i] != want || gz[i] != 0 {
			t.Fatalf("y[%d] = %v, z = %v; want %v, 0", i, got[i], gz[i], want)
		}
	}
	// A synchronous copy on the capturing thread is refused, and so is the
	// capture.
	err = c.Do(func() error {
		if err := stream.BeginCapture(); err != nil {
			return err
		}
		cerr := CopyToDevice(c, dz, []float32{1})
		_, err := stream.EndCapture()
		if !IsCode(cerr, 906) || !IsCode(err, 901) || !strings.Contains(err.Error(), "cuMemcpyHtoD") {
			return fmt.Errorf("copy during the capture: %v; end of the capture: %v; want CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, then _INVALIDATED naming the copy", cerr, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
