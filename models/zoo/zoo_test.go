package zoo

import (
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/energytest"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustZoo(t *testing.T, name string) models.Energy {
	t.Helper()
	e, err := Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestZooNames(t *testing.T) {
	names := Names()
	want := []string{"styblinski_tang", "holder_table", "flowers", "oakley_ohagan",
		"watershed", "ishigami", "friedman", "sphere", "bohachevsky", "wavy_plateau",
		"zigzag_ridge", "double_exp", "relu", "rotational", "flat"}
	if !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, name := range names {
		if d := mustZoo(t, name).Dim(); d != 0 {
			t.Errorf("%s: Dim() = %d, want 0", name, d)
		}
	}
}

func TestZooUnknown(t *testing.T) {
	_, err := Get("nope")
	if err == nil {
		t.Fatal("Get(\"nope\") gave no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, `"nope"`) {
		t.Errorf("error should be one line naming the input: %q", msg)
	}
	for _, name := range Names() {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not list %s", msg, name)
		}
	}
}

// TestZooValues checks values and gradients at points where the formulas of
// docs/design.md §8.2 simplify by hand (each expectation is derived in its comment,
// not computed by the package).
func TestZooValues(t *testing.T) {
	sin1, cos1 := math.Sin(1), math.Cos(1)
	cases := []struct {
		name string
		v    []float64
		f    float64
		g    []float64
	}{
		// ½(t⁴ − 16t² + 5t), derivative 2t³ − 16t + 2.5.
		{"styblinski_tang", []float64{0}, 0, []float64{2.5}},
		{"styblinski_tang", []float64{1}, -5, []float64{-11.5}},
		// t = −2: ½(16 − 64 − 10) = −29, derivative −16 + 32 + 2.5 = 18.5.
		{"styblinski_tang", []float64{1, -2}, -34, []float64{-11.5, 18.5}},

		// v = 0: sin 0 = 0 and ‖v‖ = 0 are kinks, derivative 0.
		{"holder_table", []float64{0}, 0, []float64{0}},
		// d = 2, v = (π/2, 0): m1 = π/2, m2 = 0, ‖v‖ = π/2, sin·cos = 1,
		// E = exp(½); f = 10E. ∂/∂m1 ∝ cos(π/2) = 0, ∂/∂m2 ∝ sin 0 = 0,
		// ∂f/∂‖v‖ = −10E/π along v/‖v‖ = (1, 0).
		{"holder_table", []float64{math.Pi / 2, 0}, 10 * math.Exp(0.5), []float64{-10 * math.Exp(0.5) / math.Pi, 0}},
		// d = 1, v = 1: m1 = m2 = ‖v‖ = 1, E = exp(1 − 1/π), f = 10 sin1 cos1 E;
		// f′ = 10E(cos²1 − sin²1) − f/π = 10E(cos 2 − sin1 cos1/π).
		{"holder_table", []float64{1}, 10 * sin1 * cos1 * math.Exp(1-1/math.Pi),
			[]float64{10 * math.Exp(1-1/math.Pi) * (math.Cos(2) - sin1*cos1/math.Pi)}},

		// t + 2 sin(|t|^1.2), derivative 1 + 2.4 cos(|t|^1.2)|t|^0.2 sign t.
		{"flowers", []float64{0}, 0, []float64{1}},
		{"flowers", []float64{1}, 1 + 2*sin1, []float64{1 + 2.4*cos1}},
		{"flowers", []float64{-1, 0}, -1 + 2*sin1, []float64{1 - 2.4*cos1, 1}},

		// 5(sin t + cos t + t² + t): 5 at 0, 5(sin1 + cos1 + 2) at 1;
		// derivative 5(cos t − sin t + 2t + 1): 10 at 0, 5(cos1 − sin1 + 3) at 1.
		{"oakley_ohagan", []float64{0}, 5, []float64{10}},
		{"oakley_ohagan", []float64{0, 1}, 5 + 5*(sin1+cos1+2), []float64{10, 5 * (cos1 - sin1 + 3)}},

		// No neighbour pair in d = 1. Pair (1, 1): (1 + 1·5)/10 = 0.6,
		// ∂a = (1 + 2·5)/10 = 1.1, ∂b = 1/10.
		{"watershed", []float64{1}, 0, []float64{0}},
		{"watershed", []float64{1, 1}, 0.6, []float64{1.1, 0.1}},
		{"watershed", []float64{1, 1, 1}, 1.2, []float64{1.1, 1.2, 0.1}},

		// d = 1, v = 0: a = b = c = 0, f = 0, f′ = cos 0 = 1.
		{"ishigami", []float64{0}, 0, []float64{1}},
		// d = 1, v = 1: a = b = c = 1: f = 1.1 sin1 + 7 sin²1;
		// f′ = (1.1 cos1 + 0.2 sin1) + (14 sin1 cos1 + 0.2 sin1).
		{"ishigami", []float64{1}, 1.1*sin1 + 7*sin1*sin1, []float64{1.1*cos1 + 0.4*sin1 + 7*math.Sin(2)}},
		// d = 2, v = (1, 0): a = 1, b = 0, c = ½: f = sin1(1 + 0.1/16);
		// ∂a = 1.00625 cos1 + 0.1·4c³·½ sin1 = 1.00625 cos1 + 0.025 sin1; ∂b = 0.025 sin1.
		{"ishigami", []float64{1, 0}, 1.00625 * sin1, []float64{1.00625*cos1 + 0.025*sin1, 0.025 * sin1}},

		// d = 1, v = 7: A = B = 0, p = r = 0, q = 0: f = (20/4 + 10)/100 = 0.15;
		// ∂A = 20(q − 1)cos B/100 = −0.2, ∂B = 0, f′ = 2∂A + ∂B = −0.4.
		{"friedman", []float64{7}, 0.15, []float64{-0.4}},
		// d = 2, v = (7.5, 7): A = 1, B = 0, p = 0, q = 1, r = 0: f = 20/4/100 = 0.05;
		// ∂A = 0; ∂B = (10π·A + 40(−½)A + 0.1 sin A)/100.
		{"friedman", []float64{7.5, 7}, 0.05, []float64{0, (10*math.Pi - 20 + 0.1*sin1) / 100}},
		// d = 1, v = 0: A = −14, B = −7, sin(98π) = 0:
		// f = [20(14 sin7 − ½)² + 10(14 cos7 + 1)² + 0.7 sin14]/100.
		{"friedman", []float64{0},
			(20*math.Pow(14*math.Sin(7)-0.5, 2) + 10*math.Pow(14*math.Cos(7)+1, 2) + 0.7*math.Sin(14)) / 100, nil},

		{"sphere", []float64{1}, -10, []float64{-20}},
		{"sphere", []float64{1, 2}, -50, []float64{-20, -40}},

		// v = 0: 10(−0.3 − 0.4) = −7. m1 = m2 = 1: 10(1 + 2 + 0.3 − 0.4) = 29,
		// ∂m1 = 10·2 = 20, ∂m2 = 10·4 = 40 (sines of multiples of π vanish).
		{"bohachevsky", []float64{0}, -7, []float64{0}},
		{"bohachevsky", []float64{1}, 29, []float64{60}},
		{"bohachevsky", []float64{1, 1}, 29, []float64{20, 40}},
		// d = 3 splits 1 | 2: m1 = 1, m2 = 2: 10(1 + 8 + 0.3 − 0.4) = 89;
		// ∂m1 = 20, ∂m2 = 80 shared by two coordinates.
		{"bohachevsky", []float64{1, 1, 3}, 89, []float64{20, 40, 40}},

		// cos(πt) + ½t⁴ − 3t² + 1: 2 at 0, −1 + ½ − 3 + 1 = −2.5 at 1;
		// derivative −π sin(πt) + 2t³ − 6t: 0 at 0, −4 at 1.
		{"wavy_plateau", []float64{0}, 2, []float64{0}},
		{"wavy_plateau", []float64{1}, -2.5, []float64{-4}},
		{"wavy_plateau", []float64{0, 1}, -0.5, []float64{0, -4}},

		// Pair (0, 1): 1 + cos0·1 + 0 = 2, ∂a = −2 + 1 = −1, ∂b = 2 + 1 = 3.
		// Pair (1, 0): 1 + cos1, ∂a = 2 − sin1 + cos1, ∂b = −2 + cos1 + 1.
		{"zigzag_ridge", []float64{1}, 0, []float64{0}},
		{"zigzag_ridge", []float64{0, 1}, 2, []float64{-1, 3}},
		{"zigzag_ridge", []float64{0, 1, 0}, 3 + cos1, []float64{-1, 5 - sin1 + cos1, cos1 - 1}},

		// v = 0: both bumps at squared distance 9: 400 exp(−0.45), gradient
		// −20 e^{−0.45}(−3 + 3) = 0. v = (3, 3): distances 0 and 72:
		// 200(1 + e^{−3.6}), ∂_i = −20(0 + e^{−3.6}·6).
		{"double_exp", []float64{0}, 400 * math.Exp(-0.45), []float64{0}},
		{"double_exp", []float64{3, 3}, 200 * (1 + math.Exp(-3.6)), []float64{-120 * math.Exp(-3.6), -120 * math.Exp(-3.6)}},

		{"relu", []float64{0}, 0, []float64{0}},
		{"relu", []float64{1}, -50, []float64{-50}},
		{"relu", []float64{2, -1}, -100, []float64{-50, 0}},

		// v = 0: x = y = 5, θ = π/4: f = −500·5π/4; ∇θ = (−y, x)/r² = (−0.1, 0.1),
		// so (∂m1, ∂m2) = (50, −50), summed in d = 1.
		{"rotational", []float64{0}, -625 * math.Pi, []float64{0}},
		{"rotational", []float64{0, 0}, -625 * math.Pi, []float64{50, -50}},
		// On the branch cut from above: x = −1, y = +0, θ = π: f = −1000π,
		// ∇θ = (0, −1)/1, so (∂m1, ∂m2) = (0, 500).
		{"rotational", []float64{-6, -5}, -1000 * math.Pi, []float64{0, 500}},
		// atan2's origin: θ = atan2(0, 0) = 0, f = −500π, gradient taken 0.
		{"rotational", []float64{-5, -5}, -500 * math.Pi, []float64{0, 0}},

		{"flat", []float64{1, 2, 3}, 0, []float64{0, 0, 0}},
	}
	close := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*(1+math.Abs(want)) }
	for _, c := range cases {
		d := len(c.v)
		val, grad := make([]float64, 1), make([]float64, d)
		mustZoo(t, c.name).Eval(c.v, d, val, grad)
		if !close(val[0], c.f) {
			t.Errorf("%s%v = %.15g, want %.15g", c.name, c.v, val[0], c.f)
		}
		for i := range c.g {
			if !close(grad[i], c.g[i]) {
				t.Errorf("%s: ∇f%v = %.15g, want %.15g", c.name, c.v, grad, c.g)
				break
			}
		}
	}
}

const (
	// kinkMargin keeps the finite-difference stencil (which moves every
	// coordinate, mean and norm by at most energytest.Step) far from any kink or branch
	// cut, and keeps flowers' |t|^1.2 where its third derivative (∝ |t|^−1.8)
	// is below ~4e3.
	kinkMargin = 1e-2
	// fdTol bounds |fd − ∂f|/(1 + |f| + |∂f|). The central difference errs by
	// about h²|f‴|/6 (truncation) plus ε|f|/h (rounding), i.e. ~2e-11·(|f‴| +
	// |f|) at h = 1e-5; the largest f‴ on [−4, 4]^d is friedman's sin(πAB) in
	// d = 1 (~3e5, with |∂f| ~ 10 beside it). The worst scaled error seen over
	// 3000 points per function and dimension is 8e-8; a wrong term in a
	// formula is off by O(|∂f|).
	fdTol = 1e-6
)

// nearKink tells, per function, whether v lies within kinkMargin of a point
// where the function is not smooth; functions missing here are smooth.
var nearKink = map[string]func(v []float64) bool{
	"holder_table": func(v []float64) bool {
		m1, m2 := halfMeans(v)
		r := math.Sqrt(dot(v, v))
		return math.Abs(math.Sin(m1)) < kinkMargin || math.Abs(math.Cos(m2)) < kinkMargin ||
			math.Abs(r-math.Pi) < kinkMargin || r < kinkMargin
	},
	"flowers": anyCoordNearZero,
	"relu":    anyCoordNearZero,
	"rotational": func(v []float64) bool {
		m1, m2 := halfMeans(v)
		x, y := m1+5, m2+5
		return (x < kinkMargin && math.Abs(y) < kinkMargin) || math.Hypot(x, y) < kinkMargin
	},
}

func anyCoordNearZero(v []float64) bool {
	return slices.ContainsFunc(v, func(t float64) bool { return math.Abs(t) < kinkMargin })
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestZooGradientFiniteDifference compares every analytic gradient with
// central differences at random points of [−4, 4]^d away from kinks.
func TestZooGradientFiniteDifference(t *testing.T) {
	const pointsPerDim = 100
	rng := rand.New(rand.NewPCG(1, 2))
	var worst float64
	for _, name := range Names() {
		e := mustZoo(t, name)
		for _, d := range []int{1, 2, 3, 10} {
			checked := 0
			x := Uniform(rng, pointsPerDim, d)
			for p := range pointsPerDim {
				v := x[p*d : (p+1)*d]
				if near := nearKink[name]; near != nil && near(v) {
					continue
				}
				checked++
				f, g := make([]float64, 1), make([]float64, d)
				e.Eval(v, d, f, g)
				for i := range d {
					fd := energytest.CentralDifference(e, v, i)
					err := math.Abs(fd-g[i]) / (1 + math.Abs(f[0]) + math.Abs(g[i]))
					worst = max(worst, err)
					if err > fdTol {
						t.Errorf("%s d=%d v=%v: ∂f/∂v_%d = %.10g, finite difference %.10g", name, d, v, i, g[i], fd)
					}
				}
			}
			if checked < pointsPerDim*9/10 {
				t.Errorf("%s d=%d: only %d of %d points away from kinks", name, d, checked, pointsPerDim)
			}
		}
	}
	t.Logf("worst scaled finite-difference error %.2g (tolerance %g)", worst, fdTol)
}

// TestZooBatch checks that a batched Eval equals one Eval per point, and that
// either output may be skipped.
func TestZooBatch(t *testing.T) {
	const n, d = 20, 3
	x := Uniform(rand.New(rand.NewPCG(3, 4)), n, d)
	for _, name := range Names() {
		e := mustZoo(t, name)
		val, grad := energytest.Eval(t, name, e, x, d)
		for p := range n {
			f, g := make([]float64, 1), make([]float64, d)
			e.Eval(x[p*d:(p+1)*d], d, f, g)
			if f[0] != val[p] || !slices.Equal(g, grad[p*d:(p+1)*d]) {
				t.Errorf("%s: point %d differs between batched and single Eval", name, p)
			}
		}
	}
}

func TestZooNoAllocs(t *testing.T) {
	const n, d = 100, 10
	x := Uniform(rand.New(rand.NewPCG(5, 6)), n, d)
	val, grad := make([]float64, n), make([]float64, n*d)
	for _, name := range Names() {
		e := mustZoo(t, name)
		if a := testing.AllocsPerRun(20, func() { e.Eval(x, d, val, grad) }); a != 0 {
			t.Errorf("%s: Eval allocates %v times per batch", name, a)
		}
	}
}

// TestZooConcurrent runs Eval on one models.Energy value from several goroutines;
// with -race it guards against shared scratch state.
func TestZooConcurrent(t *testing.T) {
	const n, d, workers = 50, 4, 4
	x := Uniform(rand.New(rand.NewPCG(7, 8)), n, d)
	for _, name := range Names() {
		e := mustZoo(t, name)
		want := make([]float64, n)
		e.Eval(x, d, want, nil)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				val, grad := make([]float64, n), make([]float64, n*d)
				e.Eval(x, d, val, grad)
				if !slices.Equal(val, want) {
					t.Errorf("%s: concurrent Eval differs", name)
				}
			})
		}
		wg.Wait()
	}
}
