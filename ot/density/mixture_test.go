package density

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// det3 and inverse3 are the explicit cofactor formulas for a row-major 3×3
// matrix; a 2×2 matrix is embedded as the top-left block of diag(·, 1).
func det3(a []float64) float64 {
	return a[0]*(a[4]*a[8]-a[5]*a[7]) - a[1]*(a[3]*a[8]-a[5]*a[6]) + a[2]*(a[3]*a[7]-a[4]*a[6])
}

func inverse3(a []float64) []float64 {
	det := det3(a)
	cof := []float64{
		a[4]*a[8] - a[5]*a[7], -(a[1]*a[8] - a[2]*a[7]), a[1]*a[5] - a[2]*a[4],
		-(a[3]*a[8] - a[5]*a[6]), a[0]*a[8] - a[2]*a[6], -(a[0]*a[5] - a[2]*a[3]),
		a[3]*a[7] - a[4]*a[6], -(a[0]*a[7] - a[1]*a[6]), a[0]*a[4] - a[1]*a[3],
	}
	for i := range cof {
		cof[i] /= det
	}
	return cof
}

// embed3 returns the d×d matrix a (d ≤ 3) as the top-left block of a 3×3
// matrix with ones on the rest of the diagonal.
func embed3(a []float64, d int) []float64 {
	out := []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			out[i*3+j] = a[i*d+j]
		}
	}
	return out
}

// directDensity evaluates Σ_k w_k (2π)^(−d/2) det(Σ_k)^(−1/2)
// exp(−½ (y − μ_k)ᵀ Σ_k⁻¹ (y − μ_k)) with the explicit inverse and
// determinant formulas (d ≤ 3), independently of the Cholesky code.
func directDensity(weights, means, covs []float64, d int, y []float64) float64 {
	p := 0.0
	for k, w := range weights {
		c := embed3(covs[k*d*d:(k+1)*d*d], d)
		inv := inverse3(c)
		q := 0.0
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				q += (y[i] - means[k*d+i]) * inv[i*3+j] * (y[j] - means[k*d+j])
			}
		}
		p += w * math.Pow(2*math.Pi, -float64(d)/2) / math.Sqrt(det3(c)) * math.Exp(-0.5*q)
	}
	return p
}

type handMixture struct {
	weights, means, covs []float64
	d                    int
}

var handMixtures = []handMixture{
	{
		d:       2,
		weights: []float64{0.5, 0.3, 0.2},
		means:   []float64{-2, 0, 2, 1, 0, 3},
		covs:    []float64{1, 0.3, 0.3, 0.5, 0.4, -0.2, -0.2, 0.8, 2, 0.9, 0.9, 1.5},
	},
	{
		d:       3,
		weights: []float64{0.6, 0.4},
		means:   []float64{0, 0, 0, 1, -1, 2},
		covs: []float64{
			2, 0.5, 0.1, 0.5, 1, -0.3, 0.1, -0.3, 0.7,
			0.5, 0, 0.2, 0, 0.3, 0, 0.2, 0, 1.2,
		},
	},
}

func (h handMixture) build(t *testing.T) *Mixture {
	t.Helper()
	m, err := NewMixture(h.weights, h.means, h.covs, h.d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomPoints(rng *rand.Rand, n, d int, lo, hi float64) []float64 {
	y := make([]float64, n*d)
	for i := range y {
		y[i] = lo + (hi-lo)*rng.Float64()
	}
	return y
}

// TestLogDensityMatchesDirectFormula: log p(y) by Cholesky and log-sum-exp
// agrees with the direct evaluation to 1e-12 relative (600 points: several
// blocks, the last one partial).
func TestLogDensityMatchesDirectFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, h := range handMixtures {
		m := h.build(t)
		n := 600
		y := randomPoints(rng, n, h.d, -5, 5)
		got := make([]float64, n)
		if err := m.LogDensity(y, h.d, got); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			want := math.Log(directDensity(h.weights, h.means, h.covs, h.d, y[i*h.d:(i+1)*h.d]))
			if math.Abs(got[i]-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("d=%d point %d: log p = %.15g, direct %.15g", h.d, i, got[i], want)
			}
		}
	}
}

// TestScoreMatchesFiniteDifferences: where the clip is inactive the score
// equals the central difference (log ρ(y + h e_j) − log ρ(y − h e_j)) / 2h,
// h = 1e-5, to 1e-6·(1 + |s|) (truncation O(h²), rounding O(ε/h)); where it is
// active the score is exactly 0. Points whose stencil straddles the clip are
// skipped.
func TestScoreMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const h = 1e-5
	for _, hm := range handMixtures {
		m := hm.build(t)
		d := hm.d
		n := 400
		y := randomPoints(rng, n, d, -9, 9)
		score := make([]float64, n*d)
		if err := m.Score(y, d, score); err != nil {
			t.Fatal(err)
		}
		logRho := func(p []float64) (float64, bool) {
			out := []float64{0}
			if err := m.LogDensity(p, d, out); err != nil {
				t.Fatal(err)
			}
			return math.Max(out[0], math.Log(DensityFloor)), out[0] <= math.Log(DensityFloor)
		}
		var clipped, checked int
		for i := 0; i < n; i++ {
			p := y[i*d : (i+1)*d]
			_, clip := logRho(p)
			s := score[i*d : (i+1)*d]
			if clip {
				clipped++
				for j, v := range s {
					if v != 0 {
						t.Fatalf("d=%d point %v in the clip region: score[%d] = %g, want 0", d, p, j, v)
					}
				}
				continue
			}
			straddles := false
			fd := make([]float64, d)
			for j := 0; j < d; j++ {
				q := append([]float64(nil), p...)
				q[j] = p[j] + h
				up, c1 := logRho(q)
				q[j] = p[j] - h
				down, c2 := logRho(q)
				straddles = straddles || c1 || c2
				fd[j] = (up - down) / (2 * h)
			}
			if straddles {
				continue
			}
			checked++
			for j := range fd {
				if math.Abs(s[j]-fd[j]) > 1e-6*(1+math.Abs(s[j])) {
					t.Fatalf("d=%d point %v: score[%d] = %.10g, finite difference %.10g", d, p, j, s[j], fd[j])
				}
			}
		}
		if clipped < 20 || checked < 20 {
			t.Fatalf("d=%d: %d clipped and %d checked points, want both ≥ 20", d, clipped, checked)
		}
	}
}

// TestFilterComponents, by hand: data covariance det 4 (LogDetData = log 4),
// components det 1, 1.75 and 1e-6 in d = 2, so v_k = (det Σ_k/4)^(1/2) =
// 0.5, 0.661 and 5·10⁻⁴: the third fails MinRelativeVariance 1e-3 and the
// weights 0.5, 0.3 renormalise to 0.625, 0.375. MinWeight 0.3 keeps w = 0.3
// (≥), 0.31 drops it. A mixture no component of which passes is Empty, its
// score 0 and its log-density −∞.
func TestFilterComponents(t *testing.T) {
	m, err := NewMixture(
		[]float64{0.5, 0.3, 0.2},
		[]float64{0, 0, 3, 3, -3, 3},
		[]float64{1, 0, 0, 1, 2, 0.5, 0.5, 1, 1e-3, 0, 0, 1e-3},
		2)
	if err != nil {
		t.Fatal(err)
	}
	filter := ComponentFilter{LogDetData: math.Log(4), MinRelativeVariance: DefaultMinRelativeVariance}
	f := m.FilterComponents(filter)
	if f.Len() != 2 || f.Empty() {
		t.Fatalf("filter kept %d components, want 2", f.Len())
	}
	w := f.Weights()
	if math.Abs(w[0]-0.625) > 1e-15 || math.Abs(w[1]-0.375) > 1e-15 {
		t.Errorf("renormalised weights %v, want [0.625 0.375]", w)
	}
	if mu := f.Mean(1); mu[0] != 3 || mu[1] != 3 {
		t.Errorf("second kept mean %v, want [3 3]", mu)
	}
	if c := f.Covariance(1); c[1] != 0.5 || c[2] != 0.5 || math.Abs(f.CovarianceDet(1)-1.75) > 1e-12 {
		t.Errorf("second kept covariance %v (det %g), want [2 0.5 0.5 1] (det 1.75)", c, f.CovarianceDet(1))
	}
	if all := m.FilterComponents(ComponentFilter{}); all.Len() != 3 {
		t.Errorf("the zero filter kept %d components, want 3", all.Len())
	}
	// The spread test's boundary: v_3 = 5·10⁻⁴ passes 4.9·10⁻⁴, fails 5.1·10⁻⁴.
	for _, c := range []struct {
		minRel float64
		want   int
	}{{4.9e-4, 3}, {5.1e-4, 2}} {
		if got := m.FilterComponents(ComponentFilter{LogDetData: math.Log(4), MinRelativeVariance: c.minRel}).Len(); got != c.want {
			t.Errorf("MinRelativeVariance %g kept %d components, want %d", c.minRel, got, c.want)
		}
	}
	for _, c := range []struct {
		minWeight float64
		want      []float64
	}{{0.3, []float64{0.625, 0.375}}, {0.31, []float64{1}}} {
		filter.MinWeight = c.minWeight
		got := m.FilterComponents(filter).Weights()
		if len(got) != len(c.want) || math.Abs(got[0]-c.want[0]) > 1e-15 {
			t.Errorf("MinWeight %g: weights %v, want %v", c.minWeight, got, c.want)
		}
	}

	e := m.FilterComponents(ComponentFilter{MinWeight: 0.6})
	if !e.Empty() || e.Dim() != 2 {
		t.Fatalf("nothing passes: Empty %v, Dim %d after the filter, want true, 2", e.Empty(), e.Dim())
	}
	y := []float64{0, 0, 1, 1, 0.5, 0.5}
	score := []float64{1, 1, 1, 1, 1, 1}
	logp := make([]float64, 3)
	if err := e.Score(y, 2, score); err != nil {
		t.Fatal(err)
	}
	if err := e.LogDensity(y, 2, logp); err != nil {
		t.Fatal(err)
	}
	for i := range score {
		if score[i] != 0 {
			t.Fatalf("empty mixture score %v, want zeros", score)
		}
	}
	for _, v := range logp {
		if !math.IsInf(v, -1) {
			t.Fatalf("empty mixture log-density %v, want −Inf", logp)
		}
	}
}

// TestFilterScaleInvariant: scaling the data by c scales Σ_k and Σ_data by
// c², so the filter keeps the same components for any c, down to 1e-100 and
// up to 1e100 in d = 5, where det Σ_k (10^(±1000)) is not a float64. The
// components have relative variances 1, 10⁻², 2·10⁻³, 5·10⁻⁴ and 10⁻⁵
// (Σ_data = I) and weights 0.3, 0.3, 0.05, 0.3, 0.05: component 2 fails
// MinWeight 0.1, components 3 and 4 the spread test, so 0 and 1 are kept.
func TestFilterScaleInvariant(t *testing.T) {
	const d = 5
	spreads := []float64{1, 1e-2, 2e-3, 5e-4, 1e-5}
	weights := []float64{0.3, 0.3, 0.05, 0.3, 0.05}
	for _, c := range []float64{1e-100, 1e-3, 1, 7, 1e100} {
		means := make([]float64, len(spreads)*d)
		covs := make([]float64, len(spreads)*d*d)
		for k, s := range spreads {
			for i := 0; i < d; i++ {
				means[k*d+i] = c * float64(k-i)
				for j := 0; j < d; j++ {
					v := 0.1 * s // a correlated component: s(0.9 I + 0.1·11ᵀ)
					if i == j {
						v = s
					}
					covs[(k*d+i)*d+j] = c * c * v
				}
			}
		}
		m, err := NewMixture(weights, means, covs, d)
		if err != nil {
			t.Fatalf("c = %g: %v", c, err)
		}
		// det(0.9 I + 0.1·11ᵀ) = 0.9⁴·1.4 in d = 5; Σ_data = c²·that.
		logDetData := 2*d*math.Log(c) + 4*math.Log(0.9) + math.Log(1.4)
		f := m.FilterComponents(ComponentFilter{LogDetData: logDetData, MinRelativeVariance: DefaultMinRelativeVariance, MinWeight: 0.1})
		w := f.Weights()
		if f.Len() != 2 || w[0] != 0.5 || w[1] != 0.5 {
			t.Fatalf("c = %g: kept weights %v, want [0.5 0.5]", c, w)
		}
		for k := 0; k < 2; k++ {
			if got, want := f.LogCovarianceDet(k), logDetData+d*math.Log(spreads[k]); math.Abs(got-want) > 1e-9*math.Abs(want) {
				t.Errorf("c = %g: log det Σ_%d = %g, want %g", c, k, got, want)
			}
		}
	}
}
func TestScoreNaNAndBadShapes(t *testing.T) {
	m := handMixtures[0].build(t)
	out := make([]float64, 2)
	if err := m.Score([]float64{math.NaN(), 0}, 2, out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out[0]) || !math.IsNaN(out[1]) {
		t.Errorf("score of a NaN point %v, want NaN", out)
	}
	for _, c := range []struct {
		y   []float64
		d   int
		out []float64
	}{
		{[]float64{0, 0, 0}, 3, make([]float64, 3)},
		{[]float64{0, 0, 0}, 2, make([]float64, 2)},
		{[]float64{0, 0}, 2, make([]float64, 3)},
	} {
		if err := m.Score(c.y, c.d, c.out); err == nil {
			t.Errorf("Score(%v, %d, len %d) gave no error", c.y, c.d, len(c.out))
		}
	}
	if err := m.LogDensity([]float64{0, 0}, 2, nil); err == nil {
		t.Error("LogDensity with a short output gave no error")
	}
}

func TestNewMixtureRejectsBadInput(t *testing.T) {
	for _, c := range []struct {
		name                 string
		weights, means, covs []float64
		d                    int
		want                 string
	}{
		{"not symmetric", []float64{1}, []float64{0, 0}, []float64{1, 0.5, 0.4, 1}, 2, "not symmetric"},
		{"not positive definite", []float64{1}, []float64{0, 0}, []float64{1, 2, 2, 1}, 2, "not positive definite"},
		{"negative weight", []float64{-1}, []float64{0, 0}, []float64{1, 0, 0, 1}, 2, "weight 0"},
		{"zero weights", []float64{0}, []float64{0, 0}, []float64{1, 0, 0, 1}, 2, "sum to 0"},
		{"shape", []float64{1}, []float64{0}, []float64{1, 0, 0, 1}, 2, "need"},
		{"dimension", []float64{1}, nil, nil, 0, "dimension"},
	} {
		_, err := NewMixture(c.weights, c.means, c.covs, c.d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
