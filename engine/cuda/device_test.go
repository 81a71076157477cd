package cuda

import (
	"context"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
)

// TestTwoBackendsOnOneDevice: backends of different d share a device and
// both train; the shared-memory limit of the MLP kernels is the device's,
// set once at open, so a d = 2 backend built after a d = 40 one does not
// lower it under the first one's need (88576 bytes in float32). The d = 40
// backend's probe gives the same bits before and after the second is built.
func TestTwoBackendsOnOneDevice(t *testing.T) {
	for _, dev := range testDevices(t) {
		t.Run(dev.Name, func(t *testing.T) {
			s := engine.DefaultSettings()
			s.Epochs, s.BatchSize, s.Precision = 1, 16, engine.Float32
			wide, narrow := parityProblem(20, 40, 6), parityProblem(20, 2, 7)
			a := newOn(t, dev, "potential", wide, s)
			order := make([]int, wide.Pairs.Len())
			for i := range order {
				order[i] = i
			}
			if err := a.SetOrder(order); err != nil {
				t.Fatal(err)
			}
			before, _, err := a.(engine.Prober).Probe(0, 16, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := newOn(t, dev, "potential", narrow, s)
			after, _, err := a.(engine.Prober).Probe(0, 16, 0)
			if err != nil {
				t.Fatalf("the d = 40 backend after a d = 2 one was built: %v", err)
			}
			if after != before {
				t.Errorf("probe of the d = 40 backend: %+v, then %+v", before, after)
			}
			for _, c := range []struct {
				b engine.Backend
				p *engine.Problem
			}{{a, wide}, {b, narrow}} {
				if err := engine.Train(context.Background(), c.b, c.p, s, engine.Observer{}); err != nil {
					t.Fatalf("d = %d: %v", c.p.D, err)
				}
			}
		})
	}
}

// TestMLPGrid: the MLP grids take as many blocks a multiprocessor as both
// registers (the kernels' __launch_bounds__) and shared memory allow, with
// the 1 KB reserved per block: float32 at d = 2 (69 120 bytes a block) fits
// 3 on an H100's 228 KiB and 2 on an A100's 164 KiB, where registers allow
// the backward kernel 2; float64 (137 472 bytes) fits 1 on either.
func TestMLPGrid(t *testing.T) {
	const h100, a100 = 228 * 1024, 164 * 1024
	f32, f64 := mlpSharedBytes(2, 2, 4), mlpSharedBytes(2, 2, 8)
	if f32 != 69120 || f64 != 137472 {
		t.Fatalf("shared bytes %d and %d, want 69120 and 137472", f32, f64)
	}
	o32, o64 := mlpOccupancy["_f32"], mlpOccupancy["_f64"]
	for _, c := range []struct{ regs, perSM, shared, sms, want int }{
		{o32.forward, h100, f32, 132, 3 * 132},
		{o32.backward, h100, f32, 132, 2 * 132},
		{o32.forward, a100, f32, 108, 2 * 108},
		{o32.backward, a100, f32, 108, 2 * 108},
		{o64.forward, h100, f64, 132, 132},
		{o64.backward, a100, f64, 108, 108},
		{3, h100, f64, 132, 132},    // shared memory holds one float64 block whatever registers allow
		{o64.forward, 0, f64, 4, 4}, // never fewer than one a multiprocessor
	} {
		if got := mlpGrid(c.regs, c.perSM, c.shared, c.sms); got != c.want {
			t.Errorf("mlpGrid(%d, %d, %d, %d) = %d, want %d", c.regs, c.perSM, c.shared, c.sms, got, c.want)
		}
	}
}
