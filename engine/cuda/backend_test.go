package cuda

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// newOn builds the CUDA backend of a fresh network of kind on dev.
func newOn(t *testing.T, dev *Device, kind string, p *engine.Problem, s engine.Settings) engine.Backend {
	t.Helper()
	net, err := networks.NewNet(kind, p.D, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(dev, net, p, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestResumeIsBitForBit: a run stopped after any step and resumed from its
// State on a new backend ends with the same parameters, bit for bit, in
// both precisions (the kernels are deterministic for a launch geometry, and
// a float32 state survives its trip through float64). On the emulator it
// runs in every thread order.
func TestResumeIsBitForBit(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		for _, prec := range []string{engine.Float32, engine.Float64} {
			t.Run(od.Label()+"/"+prec, func(t *testing.T) {
				p := parityProblem(30, 2, 3)
				s := engine.DefaultSettings()
				s.Epochs, s.BatchSize, s.Samples, s.Precision = 3, 25, 2, prec // 3 steps per epoch, the last short
				straight := newOn(t, dev, "jkonet-star", p, s)
				if err := engine.Train(context.Background(), straight, p, s, engine.Observer{}); err != nil {
					t.Fatal(err)
				}
				first := newOn(t, dev, "jkonet-star", p, s)
				ctx, cancel := context.WithCancel(context.Background())
				stopper := &stopAfter{Backend: first, steps: 4, cancel: cancel}
				if err := engine.Train(ctx, stopper, p, s, engine.Observer{}); !errors.Is(err, context.Canceled) {
					t.Fatalf("interrupted run: %v", err)
				}
				state, err := first.State()
				if err != nil || state.Steps != 4 {
					t.Fatalf("state after 4 steps: %v, %d steps", err, state.Steps)
				}
				resumed := newOn(t, dev, "jkonet-star", p, s)
				if err := resumed.SetState(state); err != nil {
					t.Fatal(err)
				}
				if err := engine.Train(context.Background(), resumed, p, s, engine.Observer{}); err != nil {
					t.Fatal(err)
				}
				a, _ := straight.State()
				b, _ := resumed.State()
				for i := range a.Params {
					if a.Params[i] != b.Params[i] || a.M[i] != b.M[i] || a.V[i] != b.V[i] {
						t.Fatalf("parameter %d: %v straight, %v resumed", i, a.Params[i], b.Params[i])
					}
				}
				if a.Steps != 9 || b.Steps != 9 {
					t.Fatalf("steps %d and %d, want 9", a.Steps, b.Steps)
				}
			})
		}
	}
}

// stopAfter cancels training once it has queued steps steps.
type stopAfter struct {
	engine.Backend
	steps  int
	cancel func()
}

func (s *stopAfter) Step(lo, hi int, step uint64) error {
	err := s.Backend.Step(lo, hi, step)
	if s.steps--; s.steps == 0 {
		s.cancel()
	}
	return err
}

// TestNonFiniteLossStops: a step whose loss overflows is not taken, nor any
// after it; the trainer reports its epoch and step and names the term, and
// the state is the one before it.
func TestNonFiniteLossStops(t *testing.T) {
	for _, dev := range testDevices(t) {
		t.Run(dev.Name, func(t *testing.T) {
			p := parityProblem(30, 2, 4)
			s := engine.DefaultSettings()
			s.Epochs, s.BatchSize, s.Precision = 3, 20, engine.Float64
			// Pair 25, in the second batch of 20, has a ‖y − x‖² that overflows.
			p.Pairs.X[2*25] = 1e200
			order := make([]int, p.Pairs.Len())
			for i := range order {
				order[i] = i
			}
			b := newOn(t, dev, "potential", p, s)
			before, _ := b.State()
			if err := b.SetOrder(order); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 3; k++ {
				if err := b.Step(20*k, min(20*(k+1), len(order)), uint64(k)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := b.Loss()
			var nf *engine.NonFiniteError
			if !errors.As(err, &nf) || nf.Step != 1 || !math.IsInf(nf.Loss.Value, 1) {
				t.Fatalf("got %v, want a NonFiniteError at step 1", err)
			}
			after, err := b.State()
			if err != nil {
				t.Fatal(err)
			}
			if after.Steps != 1 {
				t.Fatalf("state has %d steps, want 1 (the step before the bad one)", after.Steps)
			}
			moved := false
			for i := range after.Params {
				moved = moved || after.Params[i] != before.Params[i]
				if math.IsNaN(after.Params[i]) || math.IsInf(after.Params[i], 0) {
					t.Fatalf("parameter %d is %v after the stop", i, after.Params[i])
				}
			}
			if !moved {
				t.Fatal("the first step was not taken")
			}
		})
	}
}

// TestCloseFreesDeviceMemory: a backend's allocations come back on Close.
func TestCloseFreesDeviceMemory(t *testing.T) {
	for _, dev := range testDevices(t) {
		free0, _, err := dev.MemInfo()
		if err != nil {
			t.Fatal(err)
		}
		p := parityProblem(50, 3, 5)
		s := engine.DefaultSettings()
		net, _ := networks.NewNet("jkonet-star", 3, 1)
		b, err := New(dev, net, p, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Settings(); got.Samples != 0 || got.Precision != engine.Float32 {
			t.Errorf("defaults resolved to %d samples in %s, want the exact mean in float32", got.Samples, got.Precision)
		}
		free1, _, _ := dev.MemInfo()
		if free1 >= free0 {
			t.Fatalf("the backend allocated nothing: %d then %d bytes free", free0, free1)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if free2, _, _ := dev.MemInfo(); free2 != free0 && dev.Emulated {
			t.Fatalf("%d bytes free before, %d after Close", free0, free2)
		}
	}
}

// TestAutoSamples: the exact mean while its rows take at most half the free
// memory, then the largest subsample from 1024 down to 16 that fits a
// quarter.
func TestAutoSamples(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		free, exact, perPair uint64
		want                 int
	}{
		{8 * gib, 4 * gib, 1 << 20, 0},
		{8 * gib, 4*gib + 1, 1 << 10, 1024},
		{8 * gib, 5 * gib, 1 << 20, 1024},  // 2·1024 rows of 1 MiB = 2 GiB = a quarter
		{8 * gib, 5 * gib, 1<<20 + 1, 512}, // just over: halve
		{8 * gib, 5 * gib, 1 << 30, 16},    // never below 16
		{0, 1, 1, 16},
	} {
		if got := autoSamples(c.free, c.exact, c.perPair); got != c.want {
			t.Errorf("autoSamples(%d, %d, %d) = %d, want %d", c.free, c.exact, c.perPair, got, c.want)
		}
	}
}

// TestMeanLanes: pair_means gives a mean the least power of two at least
// its set's rows, never more than a block, and its grid holds every mean
// (pair, set, column) of the step.
func TestMeanLanes(t *testing.T) {
	for _, c := range []struct{ rows, want int }{{1, 1}, {2, 2}, {3, 4}, {16, 16}, {17, 32}, {256, 256}, {300, 256}} {
		if got := meanLanes(c.rows); got != c.want {
			t.Errorf("meanLanes(%d) = %d, want %d", c.rows, got, c.want)
		}
	}
	for _, c := range []struct{ batch, sets, d, lanes, want int }{
		{250, 2, 5, 16, 157},   // 2 500 means, 16 a block
		{250, 1, 5, 256, 1250}, // a block a mean
		{1, 1, 1, 4, 1},
	} {
		if got := meansGrid(c.batch, c.sets, c.d, c.lanes); got != c.want {
			t.Errorf("meansGrid(%d, %d, %d, %d) = %d, want %d", c.batch, c.sets, c.d, c.lanes, got, c.want)
		}
	}
}
