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
