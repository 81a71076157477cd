// Package density fits Gaussian mixtures to point clouds and evaluates the
// analytic score ∇log ρ of the clipped mixture density that JKOnet* uses for
// the internal-energy (diffusion) term (docs/design.md §2.2).
//
// Points are flat row-major slices: n points of dimension d, point i in
// x[i*d : (i+1)*d].
//
// FitMixture reproduces scikit-learn's GaussianMixture(covariance_type='full',
// init_params='kmeans', n_init=1): k-means++ seeding, Lloyd iterations, EM with
// full covariances. The fitted mixture then drops degenerate components and
// renormalises the weights (ComponentFilter: a component's spread relative to
// the data's, and its share of the points, both in logs and free of the data's
// scale and dimension); when no component passes, one Gaussian fitted to all
// the points takes their place, so the score is never silently 0. This
// departs from the reference, which drops components with det Σ_k ≤ 1e-4: an
// absolute threshold that drops real components of standardised data and
// underflows in higher d (docs/design.md §2.2, §9). The density is clipped
// from below, ρ(y) = max(Σ_k w_k N(y; μ_k, Σ_k), DensityFloor), and the score
// s(y) = ∇ρ(y)/ρ(y) is 0 where the clip is active.
package density

import (
	"fmt"
	"math"
)

// DensityFloor is the clip of the density: ρ(y) = max(p(y), DensityFloor).
const DensityFloor = 1e-5

// logDensityFloor is log(DensityFloor).
var logDensityFloor = math.Log(DensityFloor)

// DefaultMinRelativeVariance is the threshold of the component filter's
// spread test: component k is kept only if the geometric mean of its
// variances relative to the data's,
//
//	v_k = exp((log det Σ_k − log det Σ_data)/d),
//
// exceeds it. 1e-3 (a relative standard deviation of about 3%) is where the
// reference's det Σ_k ≤ 1e-4 sat on its own benchmark data (uniform on
// [−4, 4]², det Σ_data ≈ 28: v ≈ 2·10⁻³), now independent of scale and d.
const DefaultMinRelativeVariance = 1e-3

// ComponentFilter says which components of a fitted mixture are kept
// (docs/design.md §2.2). Both tests compare logarithms, so no determinant is
// ever formed (det Σ of standardised data in d = 20 can be 10⁻⁴⁰ or less),
// and both are unchanged when the data are scaled by any factor: Σ_k and
// Σ_data scale alike.
type ComponentFilter struct {
	// LogDetData is log det Σ_data, the covariance of the fitted points
	// (regularised like the components).
	LogDetData float64
	// MinRelativeVariance drops component k unless
	// (log det Σ_k − LogDetData)/d > log MinRelativeVariance; ≤ 0 disables
	// the test.
	MinRelativeVariance float64
	// MinWeight drops component k unless w_k ≥ MinWeight. FitMixture uses
	// (d+1)/n: a full covariance from fewer than d+1 points is singular
	// but for reg_covar, which the spread test, a geometric mean over the
	// d directions, dilutes in high d. A component of weight 0 is always
	// dropped.
	MinWeight float64
}

// Mixture is a Gaussian mixture Σ_k w_k N(μ_k, Σ_k) in R^d with full
// covariances. Each covariance is stored with the inverse of its Cholesky
// factor, Σ_k = L_k L_kᵀ, so that
//
//	log w_k + log N(y; μ_k, Σ_k) = logCoef_k − ½‖L_k⁻¹(y − μ_k)‖²,
//	logCoef_k = log w_k − (d/2) log 2π − ½ log det Σ_k,
//
// as scikit-learn's _estimate_log_gaussian_prob computes it with
// precisions_cholesky_ (= L_k⁻ᵀ). A Mixture is immutable once built and safe
// for concurrent use.
type Mixture struct {
	d           int
	weights     []float64 // K
	means       []float64 // K×d
	covariances []float64 // K × packedLen(d), lower triangle of Σ_k
	precChol    []float64 // K × packedLen(d), L_k⁻¹
	logDets     []float64 // K, log det Σ_k
	logCoef     []float64 // K
}

// NewMixture builds a mixture from K weights (non-negative, renormalised to
// sum 1), K×d means and K×d×d row-major symmetric positive definite
// covariances.
func NewMixture(weights, means, covariances []float64, d int) (*Mixture, error) {
	k := len(weights)
	if d <= 0 {
		return nil, fmt.Errorf("density: dimension %d, want ≥ 1", d)
	}
	if len(means) != k*d || len(covariances) != k*d*d {
		return nil, fmt.Errorf("density: %d weights need %d means and %d covariance values for d = %d, got %d and %d",
			k, k*d, k*d*d, d, len(means), len(covariances))
	}
	for i, w := range weights {
		if !(w >= 0) || math.IsInf(w, 1) {
			return nil, fmt.Errorf("density: weight %d is %g, want a finite value ≥ 0", i, w)
		}
	}
	m := newMixture(k, d)
	copy(m.weights, weights)
	copy(m.means, means)
	tri := packedLen(d)
	for c := 0; c < k; c++ {
		full := covariances[c*d*d : (c+1)*d*d]
		for i := 0; i < d; i++ {
			for j := 0; j <= i; j++ {
				a, b := full[i*d+j], full[j*d+i]
				if math.Abs(a-b) > 1e-12*(math.Abs(a)+math.Abs(b)) {
					return nil, fmt.Errorf("density: covariance %d is not symmetric at (%d, %d): %g vs %g", c, i, j, a, b)
				}
				m.covariances[c*tri+i*(i+1)/2+j] = a
			}
		}
	}
	if err := m.factorCovariances(); err != nil {
		return nil, err
	}
	if err := m.normaliseWeights(); err != nil {
		return nil, err
	}
	return m, nil
}

// newMixture allocates a mixture of k components in R^d.
func newMixture(k, d int) *Mixture {
	tri := packedLen(d)
	return &Mixture{
		d:           d,
		weights:     make([]float64, k),
		means:       make([]float64, k*d),
		covariances: make([]float64, k*tri),
		precChol:    make([]float64, k*tri),
		logDets:     make([]float64, k),
		logCoef:     make([]float64, k),
	}
}

// factorCovariances computes L_k⁻¹ and log det Σ_k for every component. The
// L_k⁻¹ slots serve as scratch for L_k.
func (m *Mixture) factorCovariances() error {
	d, tri := m.d, packedLen(m.d)
	chol := make([]float64, tri)
	for k := range m.weights {
		if !choleskyPacked(m.covariances[k*tri:(k+1)*tri], chol, d) {
			return fmt.Errorf("density: covariance of component %d is not positive definite", k)
		}
		invertLowerPacked(chol, m.precChol[k*tri:(k+1)*tri], d)
		m.logDets[k] = logDetFromCholesky(chol, d)
	}
	return nil
}

// normaliseWeights rescales the weights to sum 1 and sets
// logCoef_k = log w_k − (d/2) log 2π − ½ log det Σ_k.
func (m *Mixture) normaliseWeights() error {
	sum := 0.0
	for _, w := range m.weights {
		sum += w
	}
	if len(m.weights) > 0 && !(sum > 0) {
		return fmt.Errorf("density: mixture weights sum to %g, want > 0", sum)
	}
	half := 0.5 * float64(m.d) * math.Log(2*math.Pi)
	for k := range m.weights {
		m.weights[k] /= sum
		m.logCoef[k] = math.Log(m.weights[k]) - half - 0.5*m.logDets[k]
	}
	return nil
}

// Dim is the dimension d of the space.
func (m *Mixture) Dim() int { return m.d }

// Len is the number of components.
func (m *Mixture) Len() int { return len(m.weights) }

// Empty reports whether the mixture has no component (a filter dropped them
// all): its score is then 0 everywhere. FitMixture never returns one.
func (m *Mixture) Empty() bool { return len(m.weights) == 0 }

// Weights returns a copy of the component weights.
func (m *Mixture) Weights() []float64 { return append([]float64(nil), m.weights...) }

// Mean returns a copy of μ_k.
func (m *Mixture) Mean(k int) []float64 {
	return append([]float64(nil), m.means[k*m.d:(k+1)*m.d]...)
}

// Covariance returns Σ_k as a new row-major d×d matrix.
func (m *Mixture) Covariance(k int) []float64 {
	tri := packedLen(m.d)
	full := make([]float64, m.d*m.d)
	unpackSymmetric(m.covariances[k*tri:(k+1)*tri], full, m.d)
	return full
}

// CovarianceDet returns det Σ_k (it under- or overflows where
// LogCovarianceDet does not).
func (m *Mixture) CovarianceDet(k int) float64 { return math.Exp(m.logDets[k]) }

// LogCovarianceDet returns log det Σ_k.
func (m *Mixture) LogCovarianceDet(k int) float64 { return m.logDets[k] }

// FilterComponents returns the mixture restricted to the components that
// pass f, weights renormalised (docs/design.md §2.2). The result may be
// Empty.
func (m *Mixture) FilterComponents(filter ComponentFilter) *Mixture {
	minLogRel := math.Inf(-1)
	if filter.MinRelativeVariance > 0 {
		minLogRel = math.Log(filter.MinRelativeVariance)
	}
	keep := make([]int, 0, len(m.weights))
	for k, ld := range m.logDets {
		if m.weights[k] > 0 && m.weights[k] >= filter.MinWeight && (ld-filter.LogDetData)/float64(m.d) > minLogRel {
			keep = append(keep, k)
		}
	}
	d, tri := m.d, packedLen(m.d)
	f := newMixture(len(keep), d)
	for i, k := range keep {
		f.weights[i] = m.weights[k]
		f.logDets[i] = m.logDets[k]
		copy(f.means[i*d:(i+1)*d], m.means[k*d:(k+1)*d])
		copy(f.covariances[i*tri:(i+1)*tri], m.covariances[k*tri:(k+1)*tri])
		copy(f.precChol[i*tri:(i+1)*tri], m.precChol[k*tri:(k+1)*tri])
	}
	// The kept weights are positive: normalising cannot fail.
	_ = f.normaliseWeights()
	return f
}

// checkBatch validates a batch of points y (n×d) and its output of
// n·outPerPoint values.
func (m *Mixture) checkBatch(y []float64, d int, out []float64, outPerPoint int) (int, error) {
	if d != m.d {
		return 0, fmt.Errorf("density: points have dimension %d, the mixture %d", d, m.d)
	}
	if len(y)%d != 0 {
		return 0, fmt.Errorf("density: %d values are not a whole number of %d-dimensional points", len(y), d)
	}
	n := len(y) / d
	if len(out) != n*outPerPoint {
		return 0, fmt.Errorf("density: output holds %d values, want %d for %d points", len(out), n*outPerPoint, n)
	}
	return n, nil
}

// LogDensity writes log p(y_i) = log Σ_k w_k N(y_i; μ_k, Σ_k) into out[i]
// for the n = len(y)/d points of y (the unclipped mixture density; the
// clipped one is ρ = max(p, DensityFloor)). An Empty mixture gives −∞, a
// point with a NaN coordinate NaN.
func (m *Mixture) LogDensity(y []float64, d int, out []float64) error {
	n, err := m.checkBatch(y, d, out, 1)
	if err != nil {
		return err
	}
	m.forEachRowBlock(y, n, false, func(ws *workspace, lo, hi int) {
		copy(out[lo:hi], ws.logp[:hi-lo])
	})
	return nil
}

// Score writes the score s(y_i) = ∇ρ(y_i)/ρ(y_i) of the clipped density
// ρ = max(p, DensityFloor) into out[i*d:(i+1)*d]:
//
//	s(y) = −Σ_k softmax_k(log w_k + log N(y; μ_k, Σ_k)) Σ_k⁻¹(y − μ_k)   if p(y) > DensityFloor,
//	s(y) = 0                                                             otherwise,
//
// with Σ_k⁻¹(y − μ_k) = L_k⁻ᵀ (L_k⁻¹(y − μ_k)). An Empty mixture gives 0; a
// point with a NaN coordinate gives NaN.
func (m *Mixture) Score(y []float64, d int, out []float64) error {
	n, err := m.checkBatch(y, d, out, d)
	if err != nil {
		return err
	}
	tri := packedLen(d)
	m.forEachRowBlock(y, n, true, func(ws *workspace, lo, hi int) {
		nb := hi - lo
		// acc (d×blockSize, coordinate-major) −= r_k · L_k⁻ᵀ white_k: row j
		// of L_k⁻¹ scatters r_k·white_kj into the coordinates l ≤ j.
		acc := ws.diff
		clear(acc)
		for k := range m.weights {
			r := ws.post[k*blockSize : k*blockSize+nb]
			pc := m.precChol[k*tri : (k+1)*tri]
			for j := 0; j < d; j++ {
				white := ws.white[(k*d+j)*blockSize : (k*d+j)*blockSize+nb]
				c := ws.tmp[:nb]
				for i, v := range white {
					c[i] = r[i] * v
				}
				for l, p := range pc[j*(j+1)/2 : j*(j+1)/2+j+1] {
					axpy(-p, c, acc[l*blockSize:l*blockSize+nb])
				}
			}
		}
		for i := 0; i < nb; i++ {
			o := out[(lo+i)*d : (lo+i+1)*d]
			lp := ws.logp[i]
			for l := range o {
				switch {
				case math.IsNaN(lp):
					o[l] = lp
				case lp <= logDensityFloor:
					o[l] = 0
				default:
					o[l] = acc[l*blockSize+i]
				}
			}
		}
	})
	return nil
}

// forEachRowBlock evaluates the posteriors of the row-major points y (n×d)
// block by block on parallel workers, then calls fn with the workspace of
// the block of points [lo, hi). withWhite keeps every component's whitened
// differences.
func (m *Mixture) forEachRowBlock(y []float64, n int, withWhite bool, fn func(ws *workspace, lo, hi int)) {
	d := m.d
	workers := workerCount(0, n)
	spaces := make([]*workspace, workers)
	for w := range spaces {
		spaces[w] = m.newWorkspace(withWhite)
	}
	forEachBlock(n, workers, func(worker, _, lo, hi int) {
		ws := spaces[worker]
		toColumns(ws.points, blockSize, y[lo*d:hi*d], d)
		m.posteriorBlock(ws.points, blockSize, hi-lo, ws)
		fn(ws, lo, hi)
	})
}
