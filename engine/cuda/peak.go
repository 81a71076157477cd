package cuda

// Peaks are a device's arithmetic peaks and memory bandwidth, for the
// roofline (roofline.go); a 0 is unknown.
type Peaks struct {
	FP32, FP64 float64 // FLOP/s, without tensor cores
	Bandwidth  float64 // bytes/s of device memory
}

// Peaks are the device's peaks from its attributes: FLOP/s = SMs × lanes
// per SM × 2 (a fused multiply-add) × the SMs' clock, with the FP32 and
// FP64 lanes per SM of each compute capability (NVIDIA's tuning guides):
// 64 and 32 on 8.0 (A100), 128 and 64 on 9.0 (H100), 128 and 2 on the
// other 8.x (A10, L4, L40, RTX); FP64 is unknown on newer GPUs. The
// bandwidth is 2 transfers a clock × the memory clock × the bus width,
// which gives HBM's and GDDR's rated figures alike (H100 SXM: 2619 MHz ×
// 5120 bits = 3.35 TB/s). The emulator's are unknown.
func (d *Device) Peaks() Peaks {
	if d.Emulated {
		return Peaks{}
	}
	fp32, fp64 := 128.0, 0.0
	switch {
	case d.Major == 8 && d.Minor == 0:
		fp32, fp64 = 64, 32
	case d.Major == 8:
		fp64 = 2
	case d.Major == 9:
		fp64 = 64
	}
	perLane := float64(d.SMs) * 2 * float64(d.ClockKHz) * 1e3
	return Peaks{FP32: fp32 * perLane, FP64: fp64 * perLane, Bandwidth: 2 * float64(d.MemClockKHz) * 1e3 * float64(d.BusWidthBits) / 8}
}

// PeakFLOPS is the peak of the backend's device in its precision, in
// FLOP/s (0 where unknown, as on the emulator): bench reads it through the
// engine.Backend it builds from the registry, beside StepRoofline.
func (b *backend) PeakFLOPS() float64 {
	if b.elem == 8 {
		return b.dev.Peaks().FP64
	}
	return b.dev.Peaks().FP32
}
