package networks

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"
)

// testNet is a variant with LeCun weights, biases from N(0, 0.1²) and
// β = 0.3, so every parameter matters.
func testNet(t testing.TB, kind string, d int, seed uint64) *Net {
	t.Helper()
	n, err := NewNet(kind, d, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, p := range n.Layout() {
		values := n.Params[p.Offset : p.Offset+p.Size()]
		switch {
		case p.Name == "beta":
			values[0] = 0.3
		case strings.Contains(p.Name, ".b"):
			for i := range values {
				values[i] = 0.1 * rng.NormFloat64()
			}
		}
	}
	return n
}

// testBatch draws a batch for n: N(0, 1) points, targets near the sources,
// weights in [0.5, 1.5), τ in [0.5, 1.5), scores, times in [0, 3) and, for
// the interaction, one exact set or two subsample sets.
func testBatch(rng *rand.Rand, n *Net, pairs, samples int, exact bool) *Batch {
	d := n.D
	b := &Batch{D: d, X: normalPoints(rng, pairs, d, 1), W: make([]float64, pairs), Tau: make([]float64, pairs),
		Score: normalPoints(rng, pairs, d, 1), T: make([]float64, pairs)}
	b.Y = slices.Clone(b.X)
	for i := range b.Y {
		b.Y[i] += 0.3 * rng.NormFloat64()
	}
	for i := range pairs {
		b.W[i] = 0.5 + rng.Float64()
		b.Tau[i] = 0.5 + rng.Float64()
		b.T[i] = 3 * rng.Float64()
	}
	if n.HasInteraction() {
		b.S = samples
		b.Others[0] = normalPoints(rng, pairs*samples, d, 1)
		if !exact {
			b.Others[1] = normalPoints(rng, pairs*samples, d, 1)
		}
	}
	return b
}

// referenceLoss is the loss of Batch computed pair by pair from the public
// energies: r_a = τ[∇V(y) + β s + mean_s ∇U(y − y′_{a,s})] + (y − x).
func referenceLoss(n *Net, b *Batch) float64 {
	d := b.D
	sets := 1
	if n.HasInteraction() && b.Others[1] != nil {
		sets = 2
	}
	var sum, wsum float64
	gradV, gradU := make([]float64, d), make([]float64, b.S*d)
	for i := range b.W {
		y := b.Y[i*d : (i+1)*d]
		n.PotentialAt(b.T[i]).Eval(y, d, nil, gradV)
		residuals := make([][]float64, sets)
		for a := range residuals {
			r := make([]float64, d)
			for k := range d {
				r[k] = gradV[k]
				if n.HasInternal() {
					r[k] += n.Beta() * b.Score[i*d+k]
				}
			}
			if n.HasInteraction() {
				diff := slices.Clone(b.Others[a][i*b.S*d : (i+1)*b.S*d])
				for j := range diff {
					diff[j] = y[j%d] - diff[j]
				}
				n.Interaction().Eval(diff, d, nil, gradU)
				for j, g := range gradU {
					r[j%d] += g / float64(b.S)
				}
			}
			for k := range d {
				r[k] = b.Tau[i]*r[k] + y[k] - b.X[i*d+k]
			}
			residuals[a] = r
		}
		sum += b.W[i] * floats.Dot(residuals[0], residuals[sets-1])
		wsum += b.W[i]
	}
	return sum / wsum
}

type lossCase struct {
	kind  string
	exact bool
}

// lossCases are every variant with one exact set and with two subsample
// sets (the same for variants without an interaction, which ignore Others).
func lossCases() []lossCase {
	var cases []lossCase
	for _, kind := range Kinds() {
		cases = append(cases, lossCase{kind, true}, lossCase{kind, false})
	}
	return cases
}

func (c lossCase) String() string {
	if c.exact {
		return c.kind + "/exact"
	}
	return c.kind + "/two-sets"
}

func mustLossGrad(t testing.TB, n *Net, b *Batch) (Loss, []float64) {
	t.Helper()
	grad := make([]float64, len(n.Params))
	loss, err := n.LossGrad(b, grad)
	if err != nil {
		t.Fatal(err)
	}
	return loss, grad
}

// TestLossMatchesReference compares the fused loss with the pair-by-pair
// reference built on the public energies, and checks the diagnostics.
func TestLossMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, c := range lossCases() {
		n := testNet(t, c.kind, 3, 11)
		b := testBatch(rng, n, 7, 4, c.exact)
		loss, _ := mustLossGrad(t, n, b)
		want := referenceLoss(n, b)
		if math.Abs(loss.Value-want) > 1e-12*math.Abs(want) {
			t.Errorf("%v: loss %.17g, reference %.17g", c, loss.Value, want)
		}
		if loss.Potential <= 0 || loss.Residual <= 0 || (loss.Internal > 0) != n.HasInternal() || (loss.Interaction > 0) != n.HasInteraction() {
			t.Errorf("%v: diagnostics %+v do not match the variant's terms", c, loss)
		}
	}
}

// TestLossGradientFiniteDifference checks the gradient with respect to every
// parameter against central differences (step 1e-5) of the reference loss.
// Truncation and rounding errors are O(1e-10); the tolerance is
// 1e-9 + 1e-8·|∂L/∂θ|.
func TestLossGradientFiniteDifference(t *testing.T) {
	const step = 1e-5
	for _, c := range lossCases() {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			n := testNet(t, c.kind, 2, 13)
			b := testBatch(rand.New(rand.NewPCG(6, 6)), n, 2, 2, c.exact)
			_, grad := mustLossGrad(t, n, b)
			layout := n.Layout()
			var worst float64
			for i, g := range grad {
				old := n.Params[i]
				n.Params[i] = old + step
				up := referenceLoss(n, b)
				n.Params[i] = old - step
				down := referenceLoss(n, b)
				n.Params[i] = old
				fd := (up - down) / (2 * step)
				err := math.Abs(g - fd)
				tol := 1e-9 + 1e-8*math.Abs(g)
				worst = max(worst, err/tol)
				if err > tol {
					name := ""
					for _, p := range layout {
						if i >= p.Offset && i < p.Offset+p.Size() {
							name = p.Name
						}
					}
					t.Fatalf("∂L/∂θ[%d] (%s) = %.12g, finite difference %.12g", i, name, g, fd)
				}
			}
			t.Logf("%d parameters, worst error %.2g of tolerance", len(grad), worst)
		})
	}
}

// TestLossTwoEqualSetsIsExact checks that two identical subsample sets give
// the exact loss and gradient of one set.
func TestLossTwoEqualSetsIsExact(t *testing.T) {
	n := testNet(t, "jkonet-star", 2, 17)
	b := testBatch(rand.New(rand.NewPCG(7, 7)), n, 9, 5, true)
	exact, exactGrad := mustLossGrad(t, n, b)
	b.Others[1] = b.Others[0]
	two, twoGrad := mustLossGrad(t, n, b)
	if math.Abs(exact.Value-two.Value) > 1e-14*exact.Value || maxAbsDiff(exactGrad, twoGrad) > 1e-13*maxAbs(exactGrad) {
		t.Errorf("two equal sets: loss %.17g, exact %.17g, gradient difference %.3g", two.Value, exact.Value, maxAbsDiff(exactGrad, twoGrad))
	}
}

// TestLossChunks checks that batches spanning several blocks of pairs (pairs
// beyond lossChunkRows, samples beyond it) give the weighted sum of
// single-pair batches: L = Σ_i (w_i / Σ w) L_i.
func TestLossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, c := range []struct {
		kind           string
		pairs, samples int
	}{
		{"time-potential", 2*lossChunkRows + 3, 0},
		{"jkonet-star", lossChunkRows/3 + 7, 3},
		{"potential-interaction", 3, lossChunkRows + 5},
	} {
		n := testNet(t, c.kind, 2, 19)
		b := testBatch(rng, n, c.pairs, c.samples, false)
		loss, grad := mustLossGrad(t, n, b)

		var wsum, want float64
		wantGrad := make([]float64, len(grad))
		for i := range c.pairs {
			partLoss, partGrad := mustLossGrad(t, n, pairSlice(b, i))
			want += b.W[i] * partLoss.Value
			for j, g := range partGrad {
				wantGrad[j] += b.W[i] * g
			}
			wsum += b.W[i]
		}
		want /= wsum
		for j := range wantGrad {
			wantGrad[j] /= wsum
		}
		if math.Abs(loss.Value-want) > 1e-12*want || maxAbsDiff(grad, wantGrad) > 1e-11*maxAbs(wantGrad) {
			t.Errorf("%s, %d pairs, %d samples: loss %.15g, sum of pairs %.15g, gradient difference %.3g of %.3g",
				c.kind, c.pairs, c.samples, loss.Value, want, maxAbsDiff(grad, wantGrad), maxAbs(wantGrad))
		}
	}
}

// pairSlice is the batch of pair i alone.
func pairSlice(b *Batch, i int) *Batch {
	d, s := b.D, b.S
	part := &Batch{D: d, X: b.X[i*d : (i+1)*d], Y: b.Y[i*d : (i+1)*d], W: b.W[i : i+1], Tau: b.Tau[i : i+1],
		Score: b.Score[i*d : (i+1)*d], T: b.T[i : i+1], S: s}
	for a, others := range b.Others {
		if others != nil {
			part.Others[a] = others[i*s*d : (i+1)*s*d]
		}
	}
	return part
}

// TestLossWorkers checks that one worker and two workers give the same bits.
func TestLossWorkers(t *testing.T) {
	b := testBatch(rand.New(rand.NewPCG(9, 9)), testNet(t, "jkonet-star", 3, 1), 300, 8, false)
	results := make([][]float64, 2)
	for w := range results {
		previous := runtime.GOMAXPROCS(w + 1)
		n := testNet(t, "jkonet-star", 3, 1)
		loss, grad := mustLossGrad(t, n, b)
		runtime.GOMAXPROCS(previous)
		if len(n.fused.workers) != w+1 {
			t.Fatalf("%d workers with GOMAXPROCS %d", len(n.fused.workers), w+1)
		}
		results[w] = append(grad, loss.Value)
	}
	if !slices.Equal(results[0], results[1]) {
		t.Errorf("one and two workers differ by %.3g", maxAbsDiff(results[0], results[1]))
	}
}

// TestLossHelpersStop checks that the helper goroutines of a Net's loss end
// once the Net is garbage collected.
func TestLossHelpersStop(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	before := runtime.NumGoroutine()
	func() {
		n := testNet(t, "potential", 2, 1)
		mustLossGrad(t, n, testBatch(rand.New(rand.NewPCG(1, 1)), n, 3, 0, true))
		if runtime.NumGoroutine() <= before {
			t.Fatal("no helper goroutine started")
		}
	}()
	for range 200 {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%d goroutines after the Net was collected, %d before it", runtime.NumGoroutine(), before)
}

// TestLossNoAllocs checks that a step allocates nothing once the workspace
// has seen the largest batch, smaller batches included.
func TestLossNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	n := testNet(t, "jkonet-star", 2, 3)
	big, small := testBatch(rng, n, 200, 16, false), testBatch(rng, n, 50, 16, false)
	grad := make([]float64, len(n.Params))
	mustLossGrad(t, n, big)
	for _, b := range []*Batch{big, small} {
		allocs := testing.AllocsPerRun(5, func() {
			if _, err := n.LossGrad(b, grad); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d pairs: %v allocations per step, want 0", len(b.W), allocs)
		}
	}
}

func TestLossBadInput(t *testing.T) {
	n := testNet(t, "jkonet-star", 2, 3)
	good := func() *Batch { return testBatch(rand.New(rand.NewPCG(1, 1)), n, 4, 3, false) }
	for _, c := range []struct {
		name   string
		break_ func(b *Batch)
		want   string
	}{
		{"dimension", func(b *Batch) { b.D = 3 }, "dimension"},
		{"empty", func(b *Batch) { b.W = nil }, "empty"},
		{"X", func(b *Batch) { b.X = b.X[:5] }, "X has 5 values, want 8"},
		{"Tau", func(b *Batch) { b.Tau = nil }, "Tau"},
		{"Score", func(b *Batch) { b.Score = nil }, "Score"},
		{"weights", func(b *Batch) { clear(b.W) }, "weights"},
		{"samples", func(b *Batch) { b.S = 0 }, "samples"},
		{"Others[1]", func(b *Batch) { b.Others[1] = b.Others[1][:3] }, "Others[1]"},
	} {
		b := good()
		c.break_(b)
		_, err := n.LossGrad(b, make([]float64, len(n.Params)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := n.LossGrad(good(), make([]float64, 3)); err == nil {
		t.Error("short gradient buffer gave no error")
	}
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = max(m, math.Abs(v))
	}
	return m
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
