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
	Emulated     bool   // the CPU emulator rather than a GPU
	functions    map[string]*driver.Function
}

// OpenDevice loads the driver library lib ("" for $JKONET_CUDA_LIB or
// libcuda.so.1), initialises it, and loads the kernels on device ordinal.
// The errors are one line: no library, no GPU, a GPU older than compute
// capability 8.0, a driver too old for the PTX.
func OpenDevice(lib string, ordinal int) (*Device, error) {
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
	if d.TotalMem, err = dev.TotalMem(); err != nil {
		return nil, err
	}
	ptx, err := kernels.PTX("step", d.Major, d.Minor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	if d.ctx, err = dev.PrimaryContext(); err != nil {
		return nil, err
	}
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
// PTX, whose source hash it checks.
func (d *Device) loadKernels(ptx []byte) (*driver.Module, error) {
	if d.Emulated {
		return d.ctx.LoadModule(ptx)
	}
	fatbin, _, err := kernels.Fatbin()
	if err == nil {
		var mod *driver.Module
		if mod, err = d.ctx.LoadModule(fatbin); err == nil {
			return mod, nil
		}
	}
	mod, perr := d.ctx.LoadModule(ptx)
	if perr != nil {
		return nil, fmt.Errorf("%s: neither the fatbin (%v) nor the PTX loads: %w", d.Name, err, perr)
	}
	return mod, nil
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

// PeakFLOPS is the device's FP32 peak in FLOP/s: SMs × FP32 lanes per SM ×
// 2 (a fused multiply-add) × clock. The lanes per SM are 64 on compute
// capability 8.0 (A100) and 128 on 8.6 and newer; 0 for the emulator.
func (d *Device) PeakFLOPS() float64 {
	if d.Emulated {
		return 0
	}
	lanes := 128.0
	if d.Major == 8 && d.Minor == 0 {
		lanes = 64
	}
	return float64(d.SMs) * lanes * 2 * float64(d.ClockKHz) * 1e3
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
