package simulate

import (
	"math"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// quadratic is V(x) = ½ Σ c_a x_a², ∇V = c ⊙ x, with c_a = a+1.
type quadratic struct{}

func (quadratic) Dim() int { return 0 }
func (quadratic) Eval(x []float64, d int, val, grad []float64) {
	for i := 0; i < len(x)/d; i++ {
		var v float64
		for a := 0; a < d; a++ {
			c := float64(a + 1)
			v += 0.5 * c * x[i*d+a] * x[i*d+a]
			if grad != nil {
				grad[i*d+a] = c * x[i*d+a]
			}
		}
		if val != nil {
			val[i] = v
		}
	}
}

// sines is W(z) = Σ sin(z_a) + z_a, with ∇W(0) = 2 ≠ 0 so the self term counts.
type sines struct{}

func (sines) Dim() int { return 0 }
func (sines) Eval(z []float64, d int, val, grad []float64) {
	for i := 0; i < len(z)/d; i++ {
		var v float64
		for a := 0; a < d; a++ {
			v += math.Sin(z[i*d+a]) + z[i*d+a]
			if grad != nil {
				grad[i*d+a] = math.Cos(z[i*d+a]) + 1
			}
		}
		if val != nil {
			val[i] = v
		}
	}
}

type flat struct{}

func (flat) Dim() int { return 0 }
func (flat) Eval(x []float64, d int, val, grad []float64) {
	clear(val)
	clear(grad)
}

// TestZeroBetaIsExplicitEuler recomputes each step with plain loops in the
// same floating-point order, so the snapshots must agree bit for bit.
func TestZeroBetaIsExplicitEuler(t *testing.T) {
	for _, d := range []int{1, 3} {
		c := Config{Potential: quadratic{}, Interaction: sines{}, Dim: d, Particles: 37, Steps: 3, DT: 0.01, Seed: 7, Workers: 3}
		res, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		xs := res.X
		if len(xs) != 4 {
			t.Fatalf("got %d snapshots, want 4", len(xs))
		}
		n := c.Particles
		for k := 1; k < len(xs); k++ {
			prev, got := xs[k-1], xs[k]
			for i := 0; i < n; i++ {
				for a := 0; a < d; a++ {
					gv := float64(a+1) * prev[i*d+a]
					var s float64
					for j := 0; j < n; j++ {
						s += math.Cos(prev[i*d+a]-prev[j*d+a]) + 1
					}
					want := prev[i*d+a] - c.DT*(gv+s/float64(n))
					if got[i*d+a] != want {
						t.Fatalf("d=%d step %d particle %d coord %d: got %v, want %v", d, k, i, a, got[i*d+a], want)
					}
				}
			}
		}
		for _, v := range xs[0] {
			if v < -4 || v > 4 {
				t.Fatalf("initial point %v outside [-4, 4]", v)
			}
		}
	}
}

// TestDiffusionVariance: with a flat potential each coordinate increment is
// N(0, 2β·dt). With 2000·2·5 = 20000 increments the sample variance has a
// relative standard error of √(2/20000) = 1%; we allow 5%.
func TestDiffusionVariance(t *testing.T) {
	c := Config{Potential: flat{}, Beta: 0.5, Dim: 2, Particles: 2000, Steps: 5, DT: 0.01, Seed: 1}
	res, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	xs := res.X
	var sum, sum2 float64
	var cnt int
	for k := 1; k < len(xs); k++ {
		for i := range xs[k] {
			inc := xs[k][i] - xs[k-1][i]
			sum += inc
			sum2 += inc * inc
			cnt++
		}
	}
	mean := sum / float64(cnt)
	variance := sum2/float64(cnt) - mean*mean
	want := 2 * c.Beta * c.DT
	if math.Abs(variance/want-1) > 0.05 {
		t.Fatalf("increment variance %v, want %v within 5%%", variance, want)
	}
	if math.Abs(mean) > 5*math.Sqrt(want/float64(cnt)) {
		t.Fatalf("increment mean %v is not 0 within 5 standard errors", mean)
	}
}

func TestWorkersDoNotChangeResult(t *testing.T) {
	base := Config{Potential: quadratic{}, Interaction: sines{}, Beta: 0.1, Dim: 2, Particles: 101, Steps: 2, DT: 0.01, Seed: 3}
	one, two := base, base
	one.Workers, two.Workers = 1, 4
	a, _ := Run(one)
	b, _ := Run(two)
	for k := range a.X {
		for i := range a.X[k] {
			if a.X[k][i] != b.X[k][i] {
				t.Fatalf("snapshot %d entry %d differs with 1 and 4 workers", k, i)
			}
		}
	}
	other := base
	other.Seed = 4
	c, _ := Run(other)
	if c.X[1][0] == a.X[1][0] {
		t.Fatal("different seeds gave the same particles")
	}
}

// TestFoldedIsTheDriftStep: Folded measures the drift step, not the noise.
// Without noise it is ot.FoldedFraction of consecutive snapshots; with a
// flat potential it is 0 however noisy the steps. bohachevsky at dt = 0.01
// folds (its step x − dt·∇V is not monotone where dt·∂²V > 1); styblinski_tang
// does not (dt·∂²V ≤ 0.8 on [−4, 4]).
func TestFoldedIsTheDriftStep(t *testing.T) {
	for _, tc := range []struct {
		potential string
		beta      float64
		folds     bool
	}{{"bohachevsky", 0, true}, {"styblinski_tang", 0, false}, {"flat", 1, false}} {
		v, err := zoo.Get(tc.potential)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(Config{Potential: v, Beta: tc.beta, Dim: 2, Particles: 500, Steps: 2, DT: 0.01, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		for k, f := range res.Folded {
			if tc.beta == 0 {
				want, err := ot.FoldedFraction(res.X[k], res.X[k+1], 2)
				if err != nil || f != want {
					t.Errorf("%s step %d: Folded %v, FoldedFraction of the snapshots %v (%v)", tc.potential, k+1, f, want, err)
				}
			}
			if (f > 0.1) != tc.folds || (!tc.folds && f != 0) {
				t.Errorf("%s step %d: Folded %v, want folding %v", tc.potential, k+1, f, tc.folds)
			}
		}
	}
}

// TestDriftAllocationsDoNotGrowWithN: the O(N²) loop allocates nothing;
// only the per-step goroutines do.
func TestDriftAllocationsDoNotGrowWithN(t *testing.T) {
	allocs := func(n int) float64 {
		dr := NewDrifter(quadratic{}, sines{}, n, 3, 2)
		x, out := make([]float64, n*3), make([]float64, n*3)
		return testing.AllocsPerRun(5, func() { dr.Compute(x, out) })
	}
	small, large := allocs(20), allocs(400)
	if large > small || large > 8 {
		t.Fatalf("allocations per drift: %v at N=20, %v at N=400", small, large)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Potential: flat{}, Dim: 2, Particles: 10, Steps: 1, DT: 0.01}
	cases := map[string]func(*Config){
		"dim":       func(c *Config) { c.Dim = 0 },
		"particles": func(c *Config) { c.Particles = 1 },
		"steps":     func(c *Config) { c.Steps = 0 },
		"dt":        func(c *Config) { c.DT = math.NaN() },
		"beta":      func(c *Config) { c.Beta = -1 },
		"potential": func(c *Config) { c.Potential = nil },
	}
	for field, breakIt := range cases {
		c := good
		breakIt(&c)
		_, err := Run(c)
		if err == nil || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: got error %v", field, err)
		}
	}
	if _, err := Run(good); err != nil {
		t.Fatal(err)
	}
}
