package density

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sampleMixture draws n points from a mixture by the Cholesky factor of each
// covariance (d = 2).
func sampleMixture(rng *rand.Rand, n int, h handMixture) []float64 {
	x := make([]float64, n*2)
	for i := 0; i < n; i++ {
		u, k := rng.Float64(), 0
		for k < len(h.weights)-1 && u >= h.weights[k] {
			u -= h.weights[k]
			k++
		}
		c := h.covs[k*4 : k*4+4]
		l00 := math.Sqrt(c[0])
		l10 := c[2] / l00
		l11 := math.Sqrt(c[3] - l10*l10)
		z0, z1 := rng.NormFloat64(), rng.NormFloat64()
		x[2*i] = h.means[2*k] + l00*z0
		x[2*i+1] = h.means[2*k+1] + l10*z0 + l11*z1
	}
	return x
}

var wellSeparated = handMixture{
	d:       2,
	weights: []float64{0.5, 0.3, 0.2},
	means:   []float64{-6, 0, 6, 0, 0, 8},
	covs:    []float64{1, 0.5, 0.5, 1, 0.5, -0.2, -0.2, 0.8, 2, 0, 0, 0.3},
}

// TestFitMixtureRecoversThreeComponents fits K = 3 to 4000 points of a known
// well-separated mixture. Tolerances are about four standard errors for
// n_k ≥ 800 points: weights 0.03, means 0.2, covariance entries 0.25.
func TestFitMixtureRecoversThreeComponents(t *testing.T) {
	h := wellSeparated
	x := sampleMixture(rand.New(rand.NewPCG(3, 3)), 4000, h)
	m, info, err := FitMixture(x, 2, MixtureOptions{Components: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || info.Kept != 3 || info.Components != 3 || !info.Converged || info.Note != "" {
		t.Fatalf("fit: %d components, info %+v", m.Len(), info)
	}
	w := m.Weights()
	for k := range h.weights {
		// The fitted component nearest to the true mean.
		best, bestDist := -1, math.Inf(1)
		for c := 0; c < m.Len(); c++ {
			if dd := squaredDistance(m.Mean(c), h.means[2*k:2*k+2]); dd < bestDist {
				best, bestDist = c, dd
			}
		}
		if math.Abs(w[best]-h.weights[k]) > 0.03 {
			t.Errorf("component %d: weight %.3f, want %.3f", k, w[best], h.weights[k])
		}
		if math.Sqrt(bestDist) > 0.2 {
			t.Errorf("component %d: mean %v, want %v", k, m.Mean(best), h.means[2*k:2*k+2])
		}
		cov := m.Covariance(best)
		for j, v := range cov {
			if math.Abs(v-h.covs[4*k+j]) > 0.25 {
				t.Errorf("component %d: covariance %v, want %v", k, cov, h.covs[4*k:4*k+4])
				break
			}
		}
	}
}

// TestFitMixtureLogLikelihood: FitInfo.LogLikelihood is the mean of
// LogDensity over the data for the unfiltered fit, and EM does not end
// below its k-means initialisation (one iteration).
func TestFitMixtureLogLikelihood(t *testing.T) {
	x := sampleMixture(rand.New(rand.NewPCG(4, 4)), 3000, wellSeparated)
	m, info, err := FitMixture(x, 2, MixtureOptions{MinRelativeVariance: -1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	logp := make([]float64, 3000)
	if err := m.LogDensity(x, 2, logp); err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for _, v := range logp {
		mean += v
	}
	mean /= 3000
	if math.Abs(mean-info.LogLikelihood) > 1e-12*math.Abs(mean) {
		t.Errorf("FitInfo.LogLikelihood %.15g, mean LogDensity %.15g", info.LogLikelihood, mean)
	}
	_, first, err := FitMixture(x, 2, MixtureOptions{MinRelativeVariance: -1, Seed: 1, MaxIter: 1})
	if err != nil {
		t.Fatal(err)
	}
	if first.Iterations != 1 || first.Converged || info.LogLikelihood < first.LogLikelihood {
		t.Errorf("one iteration: %+v; full fit: %+v", first, info)
	}
}

// TestFitMixtureDeterministic: the same seed gives bit-identical fits for
// any number of workers; another seed starts k-means elsewhere.
func TestFitMixtureDeterministic(t *testing.T) {
	x := randomPoints(rand.New(rand.NewPCG(5, 5)), 1500, 3, -4, 4)
	fit := func(seed uint64, workers int) (*Mixture, FitInfo) {
		m, info, err := FitMixture(x, 3, MixtureOptions{Seed: seed, Workers: workers, MinRelativeVariance: -1})
		if err != nil {
			t.Fatal(err)
		}
		return m, info
	}
	a, ia := fit(11, 1)
	b, ib := fit(11, 3)
	if ia != ib {
		t.Fatalf("same seed, info %+v vs %+v", ia, ib)
	}
	for k := 0; k < a.Len(); k++ {
		for j, v := range a.Mean(k) {
			if v != b.Mean(k)[j] {
				t.Fatalf("same seed, component %d mean %v vs %v", k, a.Mean(k), b.Mean(k))
			}
		}
	}
	if _, ic := fit(12, 1); ic.LogLikelihood == ia.LogLikelihood {
		t.Errorf("seeds 11 and 12 gave the same log-likelihood %g", ia.LogLikelihood)
	}
}

// TestFitMixtureDegenerateInputs: bad input gives a one-line error; data with
// fewer distinct points than K fall back to fewer components (FitInfo.Note);
// rank-deficient data fit without error; too few points per component for
// a full covariance leave one Gaussian of all the points, never a score of 0
// everywhere. Nothing panics.
func TestFitMixtureDegenerateInputs(t *testing.T) {
	for _, c := range []struct {
		name string
		x    []float64
		d    int
		opts MixtureOptions
		want string
	}{
		{"empty", nil, 2, MixtureOptions{}, "no points"},
		{"zero dimension", []float64{1}, 0, MixtureOptions{}, "dimension"},
		{"ragged", []float64{1, 2, 3}, 2, MixtureOptions{}, "whole number"},
		{"NaN", []float64{1, 2, math.NaN(), 4}, 2, MixtureOptions{}, "point 1, coordinate 0 is NaN"},
		{"Inf", []float64{1, math.Inf(1)}, 2, MixtureOptions{}, "point 0, coordinate 1 is +Inf"},
		{"negative option", []float64{1, 2}, 2, MixtureOptions{Components: -1}, "negative"},
	} {
		_, _, err := FitMixture(c.x, c.d, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line mentioning %q", c.name, err, c.want)
		}
	}

	rng := rand.New(rand.NewPCG(6, 6))
	repeated := make([]float64, 0, 300*2)
	for i := 0; i < 300; i++ {
		k := float64(i % 3)
		repeated = append(repeated, 10*k, -5*k)
	}
	for _, c := range []struct {
		name       string
		x          []float64
		d          int
		components int // fitted
		kept       int // by the filter; 1 for the single-Gaussian fallback
	}{
		{"identical points", []float64{1, 2, 1, 2, 1, 2, 1, 2}, 2, 1, 1},
		{"one point", []float64{3, 4, 5}, 3, 1, 1},
		{"three distinct points repeated", repeated, 2, 3, 1},
		{"fewer points than components", randomPoints(rng, 4, 2, -1, 1), 2, 4, 1},
		{"dimension above point count", randomPoints(rng, 30, 40, -1, 1), 40, 10, 1},
		{"points on a line", func() []float64 {
			x := make([]float64, 0, 400)
			for i := 0; i < 200; i++ {
				u := rng.NormFloat64()
				x = append(x, u, 2*u)
			}
			return x
		}(), 2, 10, 10},
		{"far from the origin", randomPoints(rng, 500, 2, 1e6, 1e6+1), 2, 10, 10},
	} {
		m, info, err := FitMixture(c.x, c.d, MixtureOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if info.Components != c.components || (c.components < DefaultComponents || c.kept == 1) != (info.Note != "") {
			t.Errorf("%s: fitted %d components (note %q), want %d", c.name, info.Components, info.Note, c.components)
		}
		if info.Kept != c.kept {
			t.Errorf("%s: kept %d components, want %d", c.name, info.Kept, c.kept)
		}
		if m.Len() != info.Kept || m.Dim() != c.d {
			t.Errorf("%s: mixture has %d components in R^%d, info %+v", c.name, m.Len(), m.Dim(), info)
		}
		score := make([]float64, len(c.x))
		if err := m.Score(c.x, c.d, score); err != nil {
			t.Errorf("%s: score: %v", c.name, err)
		}
		for _, v := range score {
			if math.IsNaN(v) || math.IsInf(v, 0) || (m.Empty() && v != 0) {
				t.Errorf("%s: score %g (empty mixture: %v)", c.name, v, m.Empty())
				break
			}
		}
	}
}

// TestFitMixtureFilterScaleAndDimension: ten clusters in d = 20 (centres
// N(0, 4I), unit spread, 100 points each) keep all ten components whether
// the data are scaled by 0.1 (det Σ_k ≈ 10⁻⁴⁰: the reference's det Σ_k ≤
// 1e-4 drops them all) or by 1000 (det Σ_k ≈ 10¹²⁰).
func TestFitMixtureFilterScaleAndDimension(t *testing.T) {
	const d, k, per = 20, 10, 100
	rng := rand.New(rand.NewPCG(8, 8))
	x := make([]float64, 0, k*per*d)
	for c := 0; c < k; c++ {
		centre := make([]float64, d)
		for i := range centre {
			centre[i] = 2 * rng.NormFloat64()
		}
		for p := 0; p < per; p++ {
			for i := range centre {
				x = append(x, centre[i]+rng.NormFloat64())
			}
		}
	}
	for _, scale := range []float64{0.1, 1000} {
		xs := make([]float64, len(x))
		for i, v := range x {
			xs[i] = scale * v
		}
		m, info, err := FitMixture(xs, d, MixtureOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Len() != k || info.Kept != k || info.Note != "" {
			t.Errorf("scale %g: kept %d of %d components (note %q), want all", scale, m.Len(), info.Components, info.Note)
		}
		maxLogDet := math.Inf(-1)
		for c := 0; c < m.Len(); c++ {
			maxLogDet = math.Max(maxLogDet, m.LogCovarianceDet(c))
		}
		if scale < 1 && maxLogDet > math.Log(1e-4) {
			t.Errorf("scale %g: largest log det Σ_k %g: the case does not defeat the absolute filter", scale, maxLogDet)
		}
	}
}
