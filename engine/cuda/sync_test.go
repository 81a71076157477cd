package cuda

import (
	"context"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

// emulatedDevice is testDevices' emulated device; it skips the test, saying
// why it needs the emulator, where there is none.
func emulatedDevice(t *testing.T, why string) *Device {
	t.Helper()
	for _, d := range testDevices(t) {
		if d.Emulated {
			return d
		}
	}
	t.Skip(why)
	return nil
}

// TestSyncNamesTheFault: a kernel fault injected into the 5th residuals
// launch (step 4, the second of epoch 2 with 3 steps an epoch) surfaces, by
// default, at the epoch's loss read, naming no kernel, as on a GPU, with no
// synchronisation added; with JKONET_CUDA_SYNC=1 every launch is followed
// by one, and the error names the kernel, the step and the epoch.
func TestSyncNamesTheFault(t *testing.T) {
	dev := emulatedDevice(t, "faults are injected on the emulator")
	drv := dev.ctx.Driver()
	p := parityProblem(30, 2, 9) // 60 pairs: 3 steps of 20 an epoch
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize, s.Precision = 3, 20, engine.Float32
	run := func(sync bool) (error, driver.EmulatorStats) {
		t.Helper()
		if sync {
			t.Setenv(SyncEnv, "1")
		} else {
			t.Setenv(SyncEnv, "")
		}
		b := newOn(t, dev, "potential", p, s)
		if _, err := drv.Stats(true); err != nil {
			t.Fatal(err)
		}
		if err := drv.InjectFault("residuals_f32", 5); err != nil {
			t.Fatal(err)
		}
		defer drv.InjectFault("", 0)
		err := engine.Train(context.Background(), b, p, s, engine.Observer{})
		st, serr := drv.Stats(true)
		if serr != nil {
			t.Fatal(serr)
		}
		if !driver.IsCode(err, driver.ErrLaunchFailed) {
			t.Fatalf("sync %v: %v, want CUDA_ERROR_LAUNCH_FAILED", sync, err)
		}
		return err, st
	}
	err, st := run(false)
	t.Logf("default: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "cuMemcpyDtoH") || strings.Contains(msg, "residuals") || strings.Contains(msg, "step 4") {
		t.Errorf("default: %q, want the loss read's error, naming neither kernel nor step", msg)
	}
	// Train's State at the start (4 reads) and epoch 1's loss; the failed
	// read of epoch 2's is not counted.
	if st.CtxSynchronize != 0 || st.Copies.DtoH != 5 {
		t.Errorf("default: %d synchronisations and %d reads, want 0 and 5", st.CtxSynchronize, st.Copies.DtoH)
	}
	err, st = run(true)
	t.Logf("JKONET_CUDA_SYNC=1: %v", err)
	if msg := err.Error(); !strings.HasPrefix(msg, "kernel residuals_f32, step 4 (epoch 2): cuCtxSynchronize") {
		t.Errorf("JKONET_CUDA_SYNC=1: %q, want it to name kernel residuals_f32, step 4, epoch 2", msg)
	}
	if st.CtxSynchronize != st.LaunchesTotal || st.LaunchesTotal != 5*4+1 { // 4 steps of 5 kernels, then the 5th step's mlp_forward
		t.Errorf("JKONET_CUDA_SYNC=1: %d synchronisations after %d launches, want 21 of each", st.CtxSynchronize, st.LaunchesTotal)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("the error is not one line: %q", err)
	}
}
