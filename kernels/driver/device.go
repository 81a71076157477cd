package driver

import "fmt"

// Attribute is a device attribute (cuda.h's CUdevice_attribute).
type Attribute int32

// Device attributes. The names are cuda.h's CU_DEVICE_ATTRIBUTE_* in Go
// case; units are the driver's.
const (
	MaxThreadsPerBlock               Attribute = 1
	MaxBlockDimX                     Attribute = 2
	MaxGridDimX                      Attribute = 5
	MaxSharedMemoryPerBlock          Attribute = 8 // bytes, without opt-in
	WarpSize                         Attribute = 10
	MaxRegistersPerBlock             Attribute = 12
	ClockRate                        Attribute = 13 // kHz
	MultiprocessorCount              Attribute = 16
	MemoryClockRate                  Attribute = 36 // kHz
	GlobalMemoryBusWidth             Attribute = 37 // bits
	L2CacheSize                      Attribute = 38 // bytes
	MaxThreadsPerMultiprocessor      Attribute = 39
	ComputeCapabilityMajor           Attribute = 75
	ComputeCapabilityMinor           Attribute = 76
	MaxSharedMemoryPerMultiprocessor Attribute = 81 // bytes
	MaxRegistersPerMultiprocessor    Attribute = 82
	MaxSharedMemoryPerBlockOptin     Attribute = 97 // bytes, see Function.SetMaxDynamicSharedMemory
)

// Device is a CUDA device of a Driver. The zero Device is not usable.
type Device struct {
	d       *Driver
	ordinal int
	handle  int32 // CUdevice
}

// Ordinal is the device's index, as passed to Driver.Device.
func (v Device) Ordinal() int { return v.ordinal }

// Driver is the driver the device belongs to.
func (v Device) Driver() *Driver { return v.d }

// Name is the device's name, e.g. "NVIDIA H100 80GB HBM3".
func (v Device) Name() (string, error) {
	if v.d == nil {
		return "", errNoDevice
	}
	buf := make([]byte, 256)
	err := v.d.call("cuDeviceGetName", func() int32 {
		return v.d.api.cuDeviceGetName(&buf[0], int32(len(buf)), v.handle)
	})
	if err != nil {
		return "", err
	}
	return goString(&buf[0], len(buf)), nil
}

// Attribute returns the value of a device attribute.
func (v Device) Attribute(a Attribute) (int, error) {
	if v.d == nil {
		return 0, errNoDevice
	}
	var x int32
	err := v.d.call("cuDeviceGetAttribute", func() int32 {
		return v.d.api.cuDeviceGetAttribute(&x, int32(a), v.handle)
	})
	return int(x), err
}

// TotalMem is the device's memory in bytes.
func (v Device) TotalMem() (uint64, error) {
	if v.d == nil {
		return 0, errNoDevice
	}
	var n uint64
	err := v.d.call("cuDeviceTotalMem_v2", func() int32 { return v.d.api.cuDeviceTotalMem(&n, v.handle) })
	return n, err
}

// PrimaryContext retains the device's primary context
// (cuDevicePrimaryCtxRetain). Each Context it returns must be released
// once, with Release; the primary context is shared by every retainer in
// the process and is destroyed when the last one releases it.
func (v Device) PrimaryContext() (*Context, error) {
	if v.d == nil {
		return nil, errNoDevice
	}
	var h uintptr
	err := v.d.call("cuDevicePrimaryCtxRetain", func() int32 { return v.d.api.cuDevicePrimaryCtxRetain(&h, v.handle) })
	if err != nil {
		return nil, err
	}
	return &Context{d: v.d, dev: v, handle: h}, nil
}

func (v Device) String() string { return fmt.Sprintf("cuda device %d", v.ordinal) }

var errNoDevice = fmt.Errorf("cuda: zero Device (use Driver.Device)")
