package cuda

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/kernels"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// countedMLP is the CPU backend's MLP (networks.MLP: the same products, in
// the order of its forward, inputGrad and backward) written out in loops
// that count their multiply-adds, for one row.
type countedMLP struct {
	in, dx             int
	w1, b1, w2, b2, w3 []float64 // networks.MLP's layout
	macs               int
}

func newCountedMLP(m networks.MLP, dx int) *countedMLP {
	h, p := m.Hidden, m.Params
	c := &countedMLP{in: m.In, dx: dx}
	c.w1, p = p[:m.In*h], p[m.In*h:]
	c.b1, p = p[:h], p[h:]
	c.w2, p = p[:h*h], p[h*h:]
	c.b2, p = p[:h], p[h:]
	c.w3 = p[:h]
	return c
}

// product returns out[j] = Σ_k a[k]·b(k, j), k < len(a), j < n, counting
// a multiply-add a term.
func (c *countedMLP) product(a []float64, n int, b func(k, j int) float64) []float64 {
	out := make([]float64, n)
	for j := range out {
		for k, v := range a {
			out[j] += v * b(k, j)
			c.macs++
		}
	}
	return out
}

// outer adds the outer product aᵀb to dst (rows of len(b)).
func (c *countedMLP) outer(dst, a, b []float64) {
	for k, u := range a {
		for j, v := range b {
			dst[k*len(b)+j] += u * v
			c.macs++
		}
	}
}

// forward is the row's forward pass and ∇V (forward, inputGrad), with what
// backward needs.
func (c *countedMLP) forward(p []float64) (grad, h1, s1, s2, a1, g1 []float64) {
	h := hidden
	z1 := c.product(p, h, func(k, j int) float64 { return c.w1[k*h+j] })
	h1, s1 = make([]float64, h), make([]float64, h)
	for j := range z1 {
		z := z1[j] + c.b1[j]
		h1[j], s1[j] = math.Log1p(math.Exp(z)), 1/(1+math.Exp(-z))
	}
	z2 := c.product(h1, h, func(k, j int) float64 { return c.w2[k*h+j] })
	s2, g2 := make([]float64, h), make([]float64, h)
	for j := range z2 {
		s2[j] = 1 / (1 + math.Exp(-(z2[j] + c.b2[j])))
		g2[j] = s2[j] * c.w3[j]
	}
	a1 = c.product(g2, h, func(k, j int) float64 { return c.w2[j*h+k] })
	g1 = make([]float64, h)
	for j := range g1 {
		g1[j] = a1[j] * s1[j]
	}
	grad = c.product(g1, c.dx, func(k, j int) float64 { return c.w1[j*h+k] })
	return grad, h1, s1, s2, a1, g1
}

// backward adds to dm (the parameter layout) the parameter gradient of
// ⟨G, ∇V(p)[:dx]⟩ (networks.MLP.backward).
func (c *countedMLP) backward(p, up []float64, dm []float64) {
	h := hidden
	_, h1, s1, s2, a1, g1 := c.forward(p)
	c.macs = 0 // the forward pass is counted apart
	dw1, db1, dw2 := dm[:c.in*h], dm[c.in*h:c.in*h+h], dm[c.in*h+h:c.in*h+h+h*h]
	db2, dw3 := dm[c.in*h+h+h*h:c.in*h+2*h+h*h], dm[c.in*h+2*h+h*h:c.in*h+3*h+h*h]
	u1 := c.product(up, h, func(k, j int) float64 { return c.w1[k*h+j] })
	c.outer(dw1[:c.dx*h], up, g1)
	c1, g2 := make([]float64, h), make([]float64, h)
	for j := range c1 {
		c1[j], g2[j] = u1[j]*s1[j], s2[j]*c.w3[j]
	}
	c.outer(dw2, c1, g2)
	u2 := c.product(c1, h, func(k, j int) float64 { return c.w2[k*h+j] })
	e2 := make([]float64, h)
	for j := range e2 {
		dw3[j] += u2[j] * s2[j]
		e2[j] = u2[j] * c.w3[j] * s2[j] * (1 - s2[j])
		db2[j] += e2[j]
	}
	c.outer(dw2, h1, e2)
	e1 := c.product(e2, h, func(k, j int) float64 { return c.w2[j*h+k] })
	for j := range e1 {
		e1[j] = e1[j]*s1[j] + u1[j]*a1[j]*s1[j]*(1-s1[j])
		db1[j] += e1[j]
	}
	c.outer(dw1, p, e1)
}

// TestMLPFLOPsCountTheMultiplyAdds: the model's FLOPs a row of mlp_forward
// and mlp_backward are twice the multiply-adds counted in the CPU backend's
// MLP written out in loops (which gives networks.MLP's ∇V, and a parameter
// gradient that matches central differences of it): forward and ∇V for
// mlp_forward; the forward pass again (less ∇V, which mlp_backward does not
// recompute) and the backward pass for mlp_backward. d = 1, 2, 3, with and
// without a time input.
func TestMLPFLOPsCountTheMultiplyAdds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ in, dx int }{{1, 1}, {2, 2}, {3, 2}, {3, 3}} {
		m := networks.MLP{In: c.in, Hidden: hidden, Params: make([]float64, networks.MLPParamCount(c.in, hidden))}
		for i := range m.Params {
			m.Params[i] = 0.3 * rng.NormFloat64()
		}
		p, up := make([]float64, c.in), make([]float64, c.dx)
		for i := range p {
			p[i] = rng.NormFloat64()
		}
		for i := range up {
			up[i] = rng.NormFloat64()
		}
		counted := newCountedMLP(m, c.dx)
		grad, _, _, _, _, _ := counted.forward(p)
		forwardMACs := counted.macs
		want := make([]float64, c.in)
		m.Eval(p, c.in, nil, want)
		for k := range grad {
			if math.Abs(grad[k]-want[k]) > 1e-12*(1+math.Abs(want[k])) {
				t.Fatalf("in %d: ∇V[%d] = %v, networks.MLP gives %v", c.in, k, grad[k], want[k])
			}
		}
		dm := make([]float64, len(m.Params))
		counted.backward(p, up, dm)
		backwardMACs := counted.macs
		// Φ(θ) = ⟨G, ∇V(p)[:dx]⟩ by networks.MLP, differentiated centrally.
		phi := func() float64 {
			g := make([]float64, c.in)
			m.Eval(p, c.in, nil, g)
			s := 0.0
			for k, u := range up {
				s += u * g[k]
			}
			return s
		}
		const step = 1e-5
		for i := range m.Params {
			keep := m.Params[i]
			m.Params[i] = keep + step
			plus := phi()
			m.Params[i] = keep - step
			minus := phi()
			m.Params[i] = keep
			if fd := (plus - minus) / (2 * step); math.Abs(fd-dm[i]) > 1e-6*(1+math.Abs(fd)) {
				t.Fatalf("in %d: ∂Φ/∂θ[%d] = %v, central differences give %v", c.in, i, dm[i], fd)
			}
		}
		recomputed := forwardMACs - c.dx*hidden // mlp_backward's tile_forward: no ∇V
		if got, want := MLPForwardFLOPs(c.in, c.dx), 2*float64(forwardMACs); got != want {
			t.Errorf("in %d, dx %d: mlp_forward models %v FLOPs a row, the counted MLP does %v", c.in, c.dx, got, want)
		}
		if got, want := MLPBackwardFLOPs(c.in, c.dx), 2*float64(recomputed+backwardMACs); got != want {
			t.Errorf("in %d, dx %d: mlp_backward models %v FLOPs a row, the counted MLP does %v", c.in, c.dx, got, want)
		}
	}
}

// TestStepFLOPsAreTheBackends: for every variant, in both precisions, the
// model's FLOPs of a step are what the backend counts (TakeFLOPs) for the
// rows it queues on the emulator: the pairs, and the interaction rows of
// the exact mean (the target population a pair) or of 2S subsamples.
func TestStepFLOPsAreTheBackends(t *testing.T) {
	dev := emulatedDevice(t, "the steps run on the emulator")
	p := parityProblem(20, 2, 6)
	for _, kind := range networks.Kinds() {
		for _, samples := range []int{0, 3} {
			net, _ := networks.NewNet(kind, p.D, 5)
			if samples > 0 && !net.HasInteraction() {
				continue
			}
			s := engine.DefaultSettings()
			s.BatchSize, s.Samples, s.Precision = 16, samples, engine.Float64
			b := newOn(t, dev, kind, p, s).(*backend)
			order := rand.New(rand.NewPCG(1, 2)).Perm(p.Pairs.Len())
			if err := b.SetOrder(order); err != nil {
				t.Fatal(err)
			}
			b.TakeFLOPs()
			for _, r := range [][2]int{{0, 16}, {16, 27}} {
				if err := b.Step(r[0], r[1], 0); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Loss(); err != nil { // the step launched
					t.Fatal(err)
				}
				shape := b.stepShape(r[0], r[1])
				wantRows := 0
				if net.HasInteraction() {
					for _, q := range order[r[0]:r[1]] {
						if samples > 0 {
							wantRows += 2 * samples
						} else {
							wantRows += len(p.Populations[p.Pairs.K[q]+1]) / p.D
						}
					}
				}
				flops, _ := b.StepRoofline(r[0], r[1])
				if got := b.TakeFLOPs(); shape.RowsU != wantRows || got != flops || flops != StepFLOPs(StepCosts(shape)) {
					t.Errorf("%s, S %d, pairs %v: the model has %d interaction rows and %v FLOPs, the backend queued %v; want %d rows",
						kind, samples, r, shape.RowsU, flops, got, wantRows)
				}
			}
		}
	}
}

// TestStepCostsFollowTheLaunches: the model's launches of a step are the
// kernels the backend launches on the emulator, by name and by count, for
// every variant; their FLOPs are on the MLP kernels only, and every launch
// moves bytes.
func TestStepCostsFollowTheLaunches(t *testing.T) {
	dev := emulatedDevice(t, "the launches are the emulator's counters")
	drv := dev.ctx.Driver()
	p := parityProblem(20, 2, 6)
	for _, kind := range networks.Kinds() {
		s := engine.DefaultSettings()
		s.BatchSize, s.Samples, s.Precision = 16, 3, engine.Float32
		b := newOn(t, dev, kind, p, s).(*backend)
		if err := b.SetOrder(rand.New(rand.NewPCG(1, 2)).Perm(p.Pairs.Len())); err != nil {
			t.Fatal(err)
		}
		if _, err := drv.Stats(true); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(0, 16, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Loss(); err != nil {
			t.Fatal(err)
		}
		st, err := drv.Stats(true)
		if err != nil {
			t.Fatal(err)
		}
		modelled := map[string]uint64{}
		for _, c := range StepCosts(b.stepShape(0, 16)) {
			name := c.Kernel
			if name != "reduce_partials" {
				name += "_f32"
			}
			modelled[name]++
			mlp := c.Kernel == "mlp_forward" || c.Kernel == "mlp_backward"
			if mlp != (c.FLOPs > 0) || !(c.Bytes > 0) || c.Blocks < 1 {
				t.Errorf("%s: %+v", kind, c)
			}
		}
		for name, n := range st.Launches {
			if n != modelled[name] {
				t.Errorf("%s: %d launches of %s a step, the model has %d", kind, n, name, modelled[name])
			}
		}
		if len(modelled) != len(st.Launches) {
			t.Errorf("%s: the model launches %v, the emulator counted %v", kind, modelled, st.Launches)
		}
	}
}

// TestPeaksAreTheDatasheets: the peaks from the attributes CUDA reports for
// three GPUs are NVIDIA's datasheet figures within their rounding (2%): H100 SXM5 (67 TFLOP/s
// FP32, 34 FP64, 3.35 TB/s), A100 SXM4 40 GB (19.5, 9.7, 1.555), A10 (31.2
// FP32, 600 GB/s; FP64 1/64 of FP32).
func TestPeaksAreTheDatasheets(t *testing.T) {
	for _, c := range []struct {
		name                               string
		major, minor, sms, clock, mem, bus int
		fp32, fp64, bandwidth              float64
	}{
		{"H100 SXM5", 9, 0, 132, 1980000, 2619000, 5120, 67e12, 34e12, 3.35e12},
		{"A100 SXM4 40GB", 8, 0, 108, 1410000, 1215000, 5120, 19.5e12, 9.7e12, 1.555e12},
		{"A10", 8, 6, 72, 1695000, 6251000, 384, 31.2e12, 31.2e12 / 64, 600e9},
	} {
		d := &Device{Name: c.name, Major: c.major, Minor: c.minor, SMs: c.sms, ClockKHz: c.clock, MemClockKHz: c.mem, BusWidthBits: c.bus}
		got := d.Peaks()
		for _, f := range []struct {
			what      string
			got, want float64
		}{{"FP32", got.FP32, c.fp32}, {"FP64", got.FP64, c.fp64}, {"bandwidth", got.Bandwidth, c.bandwidth}} {
			if math.Abs(f.got/f.want-1) > 0.02 {
				t.Errorf("%s: %s peak %.4g, the datasheet says %.4g", c.name, f.what, f.got, f.want)
			}
		}
	}
	if p := (&Device{Emulated: true, SMs: 2, ClockKHz: 1e6}).Peaks(); p != (Peaks{}) {
		t.Errorf("the emulator has peaks %+v", p)
	}
}

// TestRooflineSeconds: each kernel takes the longer of its FLOPs at the
// precision's peak and its bytes at the bandwidth; an unknown peak gives 0.
func TestRooflineSeconds(t *testing.T) {
	costs := []KernelCost{{Kernel: "a", FLOPs: 1000, Bytes: 10}, {Kernel: "b", FLOPs: 0, Bytes: 400}}
	p := Peaks{FP32: 100, FP64: 50, Bandwidth: 20}
	if got, want := p.RooflineSeconds(costs, 4), 1000.0/100+400.0/20; got != want {
		t.Errorf("float32: %v s, want %v", got, want)
	}
	if got, want := p.RooflineSeconds(costs, 8), 1000.0/50+400.0/20; got != want {
		t.Errorf("float64: %v s, want %v", got, want)
	}
	if got := (Peaks{FP32: 100, Bandwidth: 20}).RooflineSeconds(costs, 8); got != 0 {
		t.Errorf("unknown FP64 peak: %v s, want 0", got)
	}
}

// TestFatbinImage: on each GPU the driver runs the fatbin's SASS of its
// major version and the newest minor not above its own, and JIT-compiles
// the compute_90 PTX on a GPU of another major version newer than 9.0.
func TestFatbinImage(t *testing.T) {
	fb, _, err := kernels.Fatbin()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := kernels.FatbinEntries(fb)
	if err != nil {
		t.Fatal(err)
	}
	for cc, want := range map[[2]int]string{
		{8, 0}: "SASS sm_80", {8, 6}: "SASS sm_86", {8, 7}: "SASS sm_86", {8, 9}: "SASS sm_89",
		{9, 0}: "SASS sm_90", {10, 0}: "PTX compute_90, JIT-compiled", {12, 0}: "PTX compute_90, JIT-compiled",
		{7, 5}: "none",
	} {
		if got := fatbinImage(entries, cc[0], cc[1]); got != want {
			t.Errorf("compute %d.%d: %q, want %q", cc[0], cc[1], got, want)
		}
	}
}

// TestStartupOnTheEmulator: opening the emulator's device records its
// parts, which add up to no more than the whole, and the image it loads
// (the PTX, whose source hash the emulator checks).
func TestStartupOnTheEmulator(t *testing.T) {
	s := emulatedDevice(t, "the emulator stands in for the driver").Startup
	if s.Image != "PTX (emulator)" || s.Began.IsZero() || s.DriverInit <= 0 || s.ModuleLoad <= 0 ||
		s.DriverInit+s.Context+s.ModuleLoad > s.Open || s.Open > time.Since(s.Began) {
		t.Errorf("startup %+v", s)
	}
}
