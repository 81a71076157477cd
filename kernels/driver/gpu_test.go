package driver

import (
	"errors"
	"os"
	"testing"
)

// TestRealDriver opens NVIDIA's libcuda.so.1 (skipping where it cannot be
// loaded). Without a usable GPU, Init must fail with a one-line *Error and
// no crash; with one, selftest_block_sum must give exact sums on it. The
// divergence kernel is never launched here.
func TestRealDriver(t *testing.T) {
	d, err := Open(DefaultLibrary)
	if err != nil {
		t.Skipf("no CUDA driver here: %v", err)
	}
	if d.IsEmulator() {
		t.Skipf("%s is the emulator", DefaultLibrary)
	}
	if v, err := d.Version(); err == nil {
		t.Logf("driver supports CUDA %d.%d", v/1000, v%1000/10)
	}
	if err := d.Init(); err != nil {
		checkOneLine(t, err)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Init: %v is not a *driver.Error", err)
		}
		if e.Call != "cuInit" || e.Code == 0 || e.Name == "" || e.Description == "" {
			t.Errorf("Init error %+v", *e)
		}
		t.Logf("no GPU: %v", err)
		// Further calls fail too, without crashing.
		if _, err := d.DeviceCount(); err == nil {
			t.Error("DeviceCount succeeded after Init failed")
		}
		if _, err := d.Device(0); err == nil {
			t.Error("Device(0) succeeded after Init failed")
		}
		return
	}
	if n, err := d.DeviceCount(); err != nil || n == 0 {
		t.Skipf("the driver initialised but has no device (%d, %v)", n, err)
	}
	dev, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := dev.Name()
	major, err := dev.Attribute(ComputeCapabilityMajor)
	if err != nil {
		t.Fatal(err)
	}
	minor, _ := dev.Attribute(ComputeCapabilityMinor)
	t.Logf("GPU 0: %s, compute capability %d.%d", name, major, minor)
	ptx := selftestPTX
	if major < 9 {
		ptx = "../selftest.sm80.ptx"
		if _, err := os.Stat(ptx); major < 8 || err != nil {
			t.Skipf("no self-test PTX for compute capability %d.%d", major, minor)
		}
	}
	c, err := dev.PrimaryContext()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Release(); err != nil {
			t.Error(err)
		}
	}()
	mod, err := c.LoadModule(readPTX(t, ptx))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Unload()
	runBlockSum(t, c, mod, 3)
}
