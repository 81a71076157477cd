package networks

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// naiveMLP evaluates the in → h → h → 1 softplus network of the documented
// flat layout [W1 | b1 | W2 | b2 | W3 | b3] at one point with plain loops.
func naiveMLP(params []float64, in, h int, p []float64) float64 {
	take := func(n int) []float64 {
		part := params[:n]
		params = params[n:]
		return part
	}
	w1, b1, w2, b2, w3, b3 := take(in*h), take(h), take(h*h), take(h), take(h), take(1)
	h1 := make([]float64, h)
	for j := range h {
		z := b1[j]
		for k := range in {
			z += p[k] * w1[k*h+j]
		}
		h1[j] = math.Log(1 + math.Exp(z))
	}
	v := b3[0]
	for j := range h {
		z := b2[j]
		for k := range h {
			z += h1[k] * w2[k*h+j]
		}
		v += math.Log(1+math.Exp(z)) * w3[j]
	}
	return v
}

// randomMLP draws every parameter (biases included) from N(0, scale²).
func randomMLP(rng *rand.Rand, in, hidden int, scale float64) MLP {
	m := MLP{In: in, Hidden: hidden, Params: make([]float64, MLPParamCount(in, hidden))}
	for i := range m.Params {
		m.Params[i] = scale * rng.NormFloat64()
	}
	return m
}

func normalPoints(rng *rand.Rand, n, d int, scale float64) []float64 {
	x := make([]float64, n*d)
	for i := range x {
		x[i] = scale * rng.NormFloat64()
	}
	return x
}

// TestMLPMatchesNaive compares batched values with the plain-loop network on
// a tiny network and on a full-width one with more points than one chunk.
func TestMLPMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ in, hidden, points int }{{3, 4, 50}, {2, HiddenWidth, 300}} {
		m := randomMLP(rng, c.in, c.hidden, 1/math.Sqrt(float64(c.hidden)))
		x := normalPoints(rng, c.points, c.in, 2)
		val := make([]float64, c.points)
		m.Eval(x, c.in, val, nil)
		for i := range c.points {
			want := naiveMLP(m.Params, c.in, c.hidden, x[i*c.in:(i+1)*c.in])
			if math.Abs(val[i]-want) > 1e-12*(1+math.Abs(want)) {
				t.Fatalf("in %d hidden %d point %d: V = %.17g, naive %.17g", c.in, c.hidden, i, val[i], want)
			}
		}
	}
}

// TestMLPGradientFiniteDifference compares ∇ₓV with central differences of
// the value (step 1e-5, error O(1e-10)); tolerance 1e-8 (1 + |∂V|).
func TestMLPGradientFiniteDifference(t *testing.T) {
	const step, tol = 1e-5, 1e-8
	rng := rand.New(rand.NewPCG(2, 2))
	for _, c := range []struct{ in, hidden int }{{3, 5}, {4, HiddenWidth}} {
		m := randomMLP(rng, c.in, c.hidden, 1/math.Sqrt(float64(c.hidden)))
		const points = 20
		x := normalPoints(rng, points, c.in, 1.5)
		grad := make([]float64, points*c.in)
		m.Eval(x, c.in, nil, grad)
		for i := range points {
			for k := range c.in {
				p := slices.Clone(x[i*c.in : (i+1)*c.in])
				p[k] += step
				up := naiveMLP(m.Params, c.in, c.hidden, p)
				p[k] -= 2 * step
				down := naiveMLP(m.Params, c.in, c.hidden, p)
				fd, g := (up-down)/(2*step), grad[i*c.in+k]
				if math.Abs(g-fd) > tol*(1+math.Abs(g)) {
					t.Errorf("in %d hidden %d point %d: ∂V/∂x%d = %.12g, finite difference %.12g", c.in, c.hidden, i, k, g, fd)
				}
			}
		}
	}
}

func TestSoftplusSigmoid(t *testing.T) {
	for _, z := range []float64{-1000, -40, -3, -1e-9, 0, 1e-9, 2.5, 40, 1000} {
		sp, sg := softplusSigmoid(z)
		wantSP, wantSG := math.Log1p(math.Exp(z)), 1/(1+math.Exp(-z))
		if z > 30 {
			wantSP = z
		}
		if math.Abs(sp-wantSP) > 1e-15*(1+math.Abs(wantSP)) || math.Abs(sg-wantSG) > 1e-16 || sigmoid(z) != sg {
			t.Errorf("z = %g: softplus %g σ %g, want %g %g", z, sp, sg, wantSP, wantSG)
		}
	}
}

// TestSoftplusSigmoidAccuracy sweeps softplus, σ and the exponential they
// share over the whole range against math's functions: within 1e-15
// relative (a few ulps), with ±Inf and NaN carried through.
func TestSoftplusSigmoidAccuracy(t *testing.T) {
	const tol = 1e-15
	relErr := func(got, want float64) float64 {
		if got == want {
			return 0
		}
		return math.Abs(got-want) / math.Abs(want)
	}
	var worstExp, worstSP, worstSG float64
	for i := range 400_001 {
		z := -750 + 1500*float64(i)/400_000
		if i%2 == 1 {
			z /= 40 // densely around 0, where both branches of σ meet
		}
		e := math.Exp(-math.Abs(z))
		wantSP, wantSG := math.Log1p(e), e/(1+e)
		if z >= 0 {
			wantSP, wantSG = z+math.Log1p(e), 1/(1+e)
		}
		sp, sg := softplusSigmoid(z)
		worstExp = max(worstExp, relErr(negExp(-math.Abs(z)), e))
		worstSP, worstSG = max(worstSP, relErr(sp, wantSP)), max(worstSG, relErr(sg, wantSG))
		if sigmoid(z) != sg {
			t.Fatalf("z = %g: sigmoid %g, softplusSigmoid's σ %g", z, sigmoid(z), sg)
		}
	}
	t.Logf("worst relative errors: exp %.2g, softplus %.2g, σ %.2g", worstExp, worstSP, worstSG)
	if worstExp > tol || worstSP > tol || worstSG > tol {
		t.Errorf("worst relative errors exp %.2g, softplus %.2g, σ %.2g, want ≤ %g", worstExp, worstSP, worstSG, tol)
	}
	for _, c := range []struct{ z, sp, sg float64 }{
		{math.Inf(1), math.Inf(1), 1}, {math.Inf(-1), 0, 0}, {-745.5, 0, 0},
	} {
		if sp, sg := softplusSigmoid(c.z); sp != c.sp || sg != c.sg {
			t.Errorf("z = %g: softplus %g σ %g, want %g %g", c.z, sp, sg, c.sp, c.sg)
		}
	}
	for _, bits := range []uint64{0x7ff8000000000000, 0x7ff80000000000ff, 0xfff00000000000f3} {
		if sp, sg := softplusSigmoid(math.Float64frombits(bits)); !math.IsNaN(sp) || !math.IsNaN(sg) {
			t.Errorf("NaN %#x: softplus %g σ %g, want NaN", bits, sp, sg)
		}
	}
}

// TestGemmShapes checks gemm, on whichever path it takes here, against the
// definition for shapes around the fast path's tiles (4×8), both layouts of
// A, padded leading dimensions and beta 0 and 1.
func TestGemmShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, m := range []int{1, 3, 4, 5, 9, 64} {
		for _, n := range []int{3, 8, 16, 64} {
			for _, k := range []int{1, 2, 7, 64} {
				for _, transA := range []bool{false, true} {
					for _, beta := range []float64{0, 1} {
						lda, ldb, ldc := k+1, n+2, n+3
						if transA {
							lda = m + 1
						}
						a := normalPoints(rng, max(m, k), lda, 1)
						b := normalPoints(rng, k, ldb, 1)
						c := normalPoints(rng, m, ldc, 1)
						want := slices.Clone(c)
						for i := range m {
							for j := range n {
								sum := beta * want[i*ldc+j]
								for l := range k {
									ail := a[i*lda+l]
									if transA {
										ail = a[l*lda+i]
									}
									sum += ail * b[l*ldb+j]
								}
								want[i*ldc+j] = sum
							}
						}
						gemm(transA, false, m, n, k, a, lda, b, ldb, beta, c, ldc)
						if d := maxAbsDiff(c, want); d > 1e-13*(1+maxAbs(want)) {
							t.Fatalf("m %d n %d k %d transA %v beta %v: max difference %g", m, n, k, transA, beta, d)
						}
					}
				}
			}
		}
	}
}

// TestMLPEvalConcurrentNoAllocs checks that concurrent Evals agree with a
// serial one, and that Eval does not allocate once its pool is warm.
func TestMLPEvalConcurrentNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := randomMLP(rng, 2, HiddenWidth, 0.2)
	x := normalPoints(rng, 600, 2, 1)
	val, grad := make([]float64, 600), make([]float64, 1200)
	m.Eval(x, 2, val, grad)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			v, g := make([]float64, 600), make([]float64, 1200)
			for range 5 {
				m.Eval(x, 2, v, g)
				if !slices.Equal(v, val) || !slices.Equal(g, grad) {
					t.Error("concurrent Eval differs from serial Eval")
					return
				}
			}
		})
	}
	wg.Wait()
	if allocs := testing.AllocsPerRun(20, func() { m.Eval(x, 2, val, grad) }); allocs != 0 && !raceEnabled {
		t.Errorf("MLP.Eval: %v allocations per call, want 0", allocs)
	}
}

func TestKinds(t *testing.T) {
	want := []string{"jkonet-star", "potential", "potential-internal", "potential-interaction", "time-potential"}
	if !slices.Equal(Kinds(), want) {
		t.Fatalf("Kinds() = %v, want %v", Kinds(), want)
	}
	_, err := NewNet("linear-ish", 2, 0)
	if err == nil {
		t.Fatal("unknown kind gave no error")
	}
	for _, name := range append(want, `"linear-ish"`) {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not mention %s", err, name)
		}
	}
	if _, err := NewNet("potential", 0, 0); err == nil {
		t.Error("d = 0 gave no error")
	}
}

// TestNetLayout checks that the named tensors tile Params in order, match the
// views of V and U, and that each variant has the terms it should.
func TestNetLayout(t *testing.T) {
	const d = 3
	for _, c := range []struct {
		kind  string
		names string
	}{
		{"jkonet-star", "V.W1 V.b1 V.W2 V.b2 V.W3 V.b3 U.W1 U.b1 U.W2 U.b2 U.W3 U.b3 beta"},
		{"potential", "V.W1 V.b1 V.W2 V.b2 V.W3 V.b3"},
		{"potential-internal", "V.W1 V.b1 V.W2 V.b2 V.W3 V.b3 beta"},
		{"potential-interaction", "V.W1 V.b1 V.W2 V.b2 V.W3 V.b3 U.W1 U.b1 U.W2 U.b2 U.W3 U.b3"},
		{"time-potential", "V.W1 V.b1 V.W2 V.b2 V.W3 V.b3"},
	} {
		n, err := NewNet(c.kind, d, 7)
		if err != nil {
			t.Fatal(err)
		}
		layout := n.Layout()
		var names []string
		offset := 0
		for _, tensor := range layout {
			names = append(names, tensor.Name)
			if tensor.Offset != offset {
				t.Errorf("%s: %s at offset %d, want %d", c.kind, tensor.Name, tensor.Offset, offset)
			}
			offset += tensor.Size()
		}
		if got := strings.Join(names, " "); got != c.names {
			t.Errorf("%s: tensors %q, want %q", c.kind, got, c.names)
		}
		if offset != len(n.Params) {
			t.Errorf("%s: tensors cover %d values, Params has %d", c.kind, offset, len(n.Params))
		}
		in := d
		if n.TimeDependent() {
			in = d + 1
		}
		if !slices.Equal(layout[0].Shape, []int{in, HiddenWidth}) || n.Potential().Dim() != in || n.PotentialAt(0).Dim() != d {
			t.Errorf("%s: V.W1 shape %v, Potential dim %d, PotentialAt dim %d", c.kind, layout[0].Shape, n.Potential().Dim(), n.PotentialAt(0).Dim())
		}
		if (n.Interaction() != nil) != strings.Contains(c.names, "U.") || n.HasInteraction() != strings.Contains(c.names, "U.") {
			t.Errorf("%s: interaction present = %v", c.kind, n.Interaction() != nil)
		}
		if n.HasInternal() != strings.Contains(c.names, "beta") {
			t.Errorf("%s: HasInternal = %v", c.kind, n.HasInternal())
		}
		if n.HasInternal() {
			n.Params[len(n.Params)-1] = -0.25
			if n.Beta() != -0.25 {
				t.Errorf("%s: Beta() = %g, want the signed -0.25", c.kind, n.Beta())
			}
		}
		if u, ok := n.Interaction().(MLP); ok && &u.Params[0] != &n.Params[layout[6].Offset] {
			t.Errorf("%s: U does not view Params at U.W1", c.kind)
		}
	}
}

// TestNetInit checks the LeCun-normal statistics (mean 0, variance 1/fan_in
// within 4 standard errors), zero biases and β, determinism per seed, and
// that V and U are drawn independently.
func TestNetInit(t *testing.T) {
	const d = 10
	n, err := NewNet("jkonet-star", d, 42)
	if err != nil {
		t.Fatal(err)
	}
	tensors := map[string][]float64{}
	for _, p := range n.Layout() {
		tensors[p.Name] = n.Params[p.Offset : p.Offset+p.Size()]
	}
	for _, c := range []struct {
		names []string
		fanIn int
	}{
		{[]string{"V.W1", "U.W1"}, d},
		{[]string{"V.W2", "U.W2"}, HiddenWidth},
		{[]string{"V.W3", "U.W3"}, HiddenWidth},
	} {
		var w []float64
		for _, name := range c.names {
			w = append(w, tensors[name]...)
		}
		var mean, sq float64
		for _, v := range w {
			mean += v
			sq += v * v
		}
		mean /= float64(len(w))
		variance := sq/float64(len(w)) - mean*mean
		want := 1 / float64(c.fanIn)
		if tol := 4 * math.Sqrt(2/float64(len(w))); math.Abs(variance/want-1) > tol || math.Abs(mean) > 4*math.Sqrt(want/float64(len(w))) {
			t.Errorf("%v: mean %.3g variance %.4g, want 0 and %.4g (relative tolerance %.2g)", c.names, mean, variance, want, tol)
		}
	}
	for _, name := range []string{"V.b1", "V.b2", "V.b3", "U.b1", "U.b2", "U.b3", "beta"} {
		if slices.ContainsFunc(tensors[name], func(v float64) bool { return v != 0 }) {
			t.Errorf("%s is not zero at initialisation", name)
		}
	}
	if slices.Equal(tensors["V.W2"], tensors["U.W2"]) || slices.Equal(tensors["V.W1"], tensors["U.W1"]) {
		t.Error("V and U have the same initial weights")
	}
	same, _ := NewNet("jkonet-star", d, 42)
	other, _ := NewNet("jkonet-star", d, 43)
	if !slices.Equal(same.Params, n.Params) {
		t.Error("same seed gave different parameters")
	}
	if slices.Equal(other.Params, n.Params) {
		t.Error("different seeds gave the same parameters")
	}
	potentialOnly, _ := NewNet("potential", d, 42)
	if !slices.Equal(potentialOnly.Params, n.Params[:len(potentialOnly.Params)]) {
		t.Error("V's initialisation depends on the variant")
	}
}

// TestPotentialAt checks that the time-dependent potential at t is the
// network at [x, t] with the gradient's x part.
func TestPotentialAt(t *testing.T) {
	const d, points, time = 2, 5, 0.7
	n, err := NewNet("time-potential", d, 3)
	if err != nil {
		t.Fatal(err)
	}
	x := normalPoints(rand.New(rand.NewPCG(4, 4)), points, d, 1)
	val, grad := make([]float64, points), make([]float64, points*d)
	n.PotentialAt(time).Eval(x, d, val, grad)
	for i := range points {
		xt := append(slices.Clone(x[i*d:(i+1)*d]), time)
		v, g := make([]float64, 1), make([]float64, d+1)
		n.Potential().Eval(xt, d+1, v, g)
		if v[0] != val[i] || !slices.Equal(g[:d], grad[i*d:(i+1)*d]) {
			t.Errorf("point %d: PotentialAt gives %g %v, network at [x, t] %g %v", i, val[i], grad[i*d:(i+1)*d], v[0], g)
		}
	}
	static, _ := NewNet("potential", d, 3)
	if _, ok := static.PotentialAt(5).(MLP); !ok {
		t.Error("PotentialAt of a static potential is not the network itself")
	}
}
