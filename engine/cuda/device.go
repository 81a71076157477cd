// Package cuda is the CUDA training backend ("--device cuda"): the
// whole JKOnet* step (MLP forward, input gradients, the interaction mean,
// the score term, residuals, parameter gradients, clipping and Adam) runs in
// the kernels of kernels/step.cu over a batch of pairs, with the pairs,
// populations, scores, parameters and Adam's moments resident on the GPU;
// the loss comes back once per epoch.
//
// The driver (libcuda.so.1, or $JKONET_CUDA_LIB) is opened at run time by
// package driver (kernels/driver), so one binary built without cgo serves
// GPU and CPU machines; the CPU emulator of kernels/emu runs the same
// kernels where there is no GPU. Importing the package registers the
// backend with engine.
package cuda

import (
	"fmt"
	"sync"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/kernels"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// Device is a GPU, its primary context and the training kernels loaded on
// it. A Device may serve several backends, one after another or at once.
type Device struct {
	ctx          *driver.Context
	Name         string
	Major, Minor int    // compute capability
	SMs          int    // multiprocessors
	ClockKHz     int    // the SMs' clock
	MaxShared    int    // dynamic shared memory per block, opted in (the MLP kernels' limit, set at open)
	SharedPerSM  int    // shared memory of a multiprocessor, for the blocks that fit one
	TotalMem     uint64 // bytes
	MemClockKHz  int    // device memory's clock (0 on the emulator)
	BusWidthBits int    // device memory's bus width (0 on the emulator)
	Emulated     bool   // the CPU emulator rather than a GPU
	Startup      Startup
	functions    map[string]*driver.Function
}

// OpenDevice loads the driver library lib ("" for $JKONET_CUDA_LIB or
// libcuda.so.1), initialises it, and loads the kernels on device ordinal.
// The errors are one line: no library, no GPU, a GPU older than compute
// capability 8.0, a driver too old for the PTX.
func OpenDevice(lib string, ordinal int) (*Device, error) {
	began := time.Now()
	drv, err := driver.Open(lib)
	if err != nil {
		return nil, err
	}
	if err := drv.Init(); err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal >= n {
		return nil, fmt.Errorf("no CUDA device %d (the driver sees %d)", ordinal, n)
	}
	dev, err := drv.Device(ordinal)
	if err != nil {
		return nil, err
	}
	d := &Device{Emulated: drv.IsEmulator(), functions: map[string]*driver.Function{}}
	d.Startup.Began = began
	if d.Name, err = dev.Name(); err != nil {
		return nil, err
	}
	for _, a := range []struct {
		attr driver.Attribute
		dst  *int
	}{{driver.ComputeCapabilityMajor, &d.Major}, {driver.ComputeCapabilityMinor, &d.Minor},
		{driver.MultiprocessorCount, &d.SMs}, {driver.ClockRate, &d.ClockKHz},
		{driver.MaxSharedMemoryPerBlockOptin, &d.MaxShared}, {driver.MaxSharedMemoryPerMultiprocessor, &d.SharedPerSM}} {
		if *a.dst, err = dev.Attribute(a.attr); err != nil {
			return nil, err
		}
	}
	if !d.Emulated { // for the roofline's bandwidth; the emulator has no memory clock
		for _, a := range []struct {
			attr driver.Attribute
			dst  *int
		}{{driver.MemoryClockRate, &d.MemClockKHz}, {driver.GlobalMemoryBusWidth, &d.BusWidthBits}} {
			if *a.dst, err = dev.Attribute(a.attr); err != nil {
				return nil, err
			}
		}
	}
	if d.TotalMem, err = dev.TotalMem(); err != nil {
		return nil, err
	}
	ptx, err := kernels.PTX("step", d.Major, d.Minor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	d.Startup.DriverInit = time.Since(began)
	start := time.Now()
	if d.ctx, err = dev.PrimaryContext(); err != nil {
		return nil, err
	}
	d.Startup.Context = time.Since(start)
	mod, err := d.loadKernels(ptx)
	if err != nil {
		d.ctx.Release()
		return nil, err
	}
	for _, name := range kernelNames() {
		f, err := mod.Function(name)
		if err != nil {
			d.ctx.Release()
			return nil, err
		}
		d.functions[name] = f
	}
	// The MLP kernels may use all of it, set once for the device: the
	// limit is the function's, shared by every backend on the device, so a
	// backend setting its own need would lower it under another's.
	for _, name := range mlpKernelNames() {
		if err := d.functions[name].SetMaxDynamicSharedMemory(d.MaxShared); err != nil {
			d.ctx.Release()
			return nil, fmt.Errorf("%s: %s: %w", d.Name, name, err)
		}
	}
	d.Startup.Open = time.Since(began)
	return d, nil
}

// mlpKernelNames are the kernels whose dynamic shared memory grows with d
// (mlpSharedBytes), past the 48 KiB a kernel may use without opting in.
func mlpKernelNames() []string {
	return []string{"mlp_forward_f32", "mlp_forward_f64", "mlp_backward_f32", "mlp_backward_f64"}
}

// loadKernels loads the training kernels: on a GPU the fatbin, whose SASS
// for sm_80, 86, 89 and 90 runs without JIT (compute_90 PTX for newer
// GPUs), and the PTX if the driver refuses the fatbin; on the emulator the
// PTX, whose source hash it checks. It records the loads' time and the image
// the driver runs in d.Startup.
func (d *Device) loadKernels(ptx []byte) (*driver.Module, error) {
	start := time.Now()
	defer func() { d.Startup.ModuleLoad = time.Since(start) }()
	if d.Emulated {
		d.Startup.Image = "PTX (emulator)"
		return d.ctx.LoadModule(ptx)
	}
	fatbin, _, err := kernels.Fatbin()
	var entries []kernels.FatbinEntry
	if err == nil {
		entries, err = kernels.FatbinEntries(fatbin)
	}
	if err == nil {
		var mod *driver.Module
		if mod, err = d.ctx.LoadModule(fatbin); err == nil {
			d.Startup.Image = fatbinImage(entries, d.Major, d.Minor)
			return mod, nil
		}
	}
	mod, perr := d.ctx.LoadModule(ptx)
	if perr != nil {
		return nil, fmt.Errorf("%s: neither the fatbin (%v) nor the PTX loads: %w", d.Name, err, perr)
	}
	arch := 0 // the PTX that kernels.PTX gave
	for _, a := range kernels.Archs {
		if 10*d.Major+d.Minor >= a {
			arch = a
			break
		}
	}
	d.Startup.Image = fmt.Sprintf("PTX compute_%d, JIT-compiled (the fatbin was refused: %v)", arch, err)
	return mod, nil
}

// fatbinImage names the image of the fatbin the driver runs on a GPU of
// compute capability major.minor: SASS for the same major version and the
// newest minor at most the GPU's (SASS runs only within its major version),
// else the newest PTX at most the GPU's, which the driver compiles at load
// (JIT).
func fatbinImage(entries []kernels.FatbinEntry, major, minor int) string {
	cc, sass, ptx := 10*major+minor, 0, 0
	for _, e := range entries {
		switch {
		case e.Arch > cc:
		case e.PTX:
			ptx = max(ptx, e.Arch)
		case e.Arch/10 == major:
			sass = max(sass, e.Arch)
		}
	}
	switch {
	case sass > 0:
		return fmt.Sprintf("SASS sm_%d", sass)
	case ptx > 0:
		return fmt.Sprintf("PTX compute_%d, JIT-compiled", ptx)
	}
	return "none"
}

// Startup is how long the device took to open, in parts, and what the
// driver loaded: the first half of bench's time to first step.
type Startup struct {
	Began      time.Time     // OpenDevice's call
	DriverInit time.Duration // libcuda opened, cuInit, the device's attributes
	Context    time.Duration // the primary context retained (created)
	ModuleLoad time.Duration // cuModuleLoadData of the kernels: the driver's JIT, if any, runs here
	Open       time.Duration // all of OpenDevice
	Image      string        // what runs: "SASS sm_90", "PTX compute_90, JIT-compiled", "PTX (emulator)"
}

// EmulatorCounts are the emulator's kernel launches, graph launches and
// synchronisations so far (kernels/driver's Stats), for bench's launches an
// epoch; an error on a GPU, whose driver keeps no counters.
func (b *backend) EmulatorCounts() (launches, graphLaunches, syncs uint64, err error) {
	st, err := b.dev.ctx.Driver().Stats(false)
	return st.LaunchesTotal, st.GraphLaunches, st.Synchronizations, err
}

// StartupPhases is how the backend's device opened, for bench's time to
// first step (in basic types: bench reaches backends through the registry
// alone): when OpenDevice began, its phases and the offset of each one's
// end, and the kernels' image.
func (b *backend) StartupPhases() (began time.Time, phases []string, ends []time.Duration, image string) {
	s := b.dev.Startup
	return s.Began, []string{"driver init", "context", "module load", "kernel setup"},
		[]time.Duration{s.DriverInit, s.DriverInit + s.Context, s.DriverInit + s.Context + s.ModuleLoad, s.Open}, s.Image
}

// kernelNames are the entry points of kernels/step.cu.
func kernelNames() []string {
	names := []string{"reduce_partials"}
	for _, base := range []string{"mlp_forward", "mlp_backward", "pair_means", "residuals", "finish_step"} {
		names = append(names, base+"_f32", base+"_f64")
	}
	return names
}

// String describes the device in one line.
func (d *Device) String() string {
	return fmt.Sprintf("%s (compute %d.%d, %d SMs, %.1f GiB)", d.Name, d.Major, d.Minor, d.SMs, float64(d.TotalMem)/(1<<30))
}

// Do runs f with the device's context current on the calling goroutine's OS
// thread (driver.Context.Do): for libraries bound to the same driver, such as
// NCCL, whose communicator belongs to the current device.
func (d *Device) Do(f func() error) error { return d.ctx.Do(f) }

// Synchronize waits for the device's queued work.
func (d *Device) Synchronize() error { return d.ctx.Synchronize() }

// MemInfo is the device's free and total memory.
func (d *Device) MemInfo() (free, total uint64, err error) { return d.ctx.MemInfo() }

// Close releases the device's context; the Device must not be used after.
func (d *Device) Close() error { return d.ctx.Release() }

// The device the registry's "cuda" backend uses: device 0 of the default
// driver library, or the one chooseDevice picks, opened once per process.
var (
	defaultOnce   sync.Once
	defaultDevice *Device
	defaultErr    error
	chooseDevice  func(count int) (int, error)
)

// ChooseDevice sets how DefaultDevice picks its GPU from the number of
// devices the driver sees: launch.Topology.Device, one rank per GPU of a
// node. It must come before the first DefaultDevice.
func ChooseDevice(choose func(count int) (int, error)) { chooseDevice = choose }

// DefaultDevice opens (once) device 0, or the one ChooseDevice's function
// picks, of the driver named by $JKONET_CUDA_LIB, or libcuda.so.1.
func DefaultDevice() (*Device, error) {
	defaultOnce.Do(func() {
		ordinal := 0
		if chooseDevice != nil {
			drv, err := driver.Open("")
			if err == nil {
				err = drv.Init()
			}
			n := 0
			if err == nil {
				n, err = drv.DeviceCount()
			}
			if err == nil {
				ordinal, err = chooseDevice(n)
			}
			if err != nil {
				defaultErr = err
				return
			}
		}
		defaultDevice, defaultErr = OpenDevice("", ordinal)
	})
	return defaultDevice, defaultErr
}
