package cuda

// PeakFLOPS is the FP32 peak of the backend's device in FLOP/s
// (Device.PeakFLOPS; 0 on the emulator): bench reads it through the
// engine.Backend it builds from the registry, beside TakeFLOPs.
func (b *backend) PeakFLOPS() float64 { return b.dev.PeakFLOPS() }
