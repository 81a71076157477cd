package density

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Defaults of FitMixture: scikit-learn's GaussianMixture settings of
// docs/design.md §2.2.
const (
	DefaultComponents = 10
	DefaultTol        = 1e-3
	DefaultRegCovar   = 1e-6
	DefaultMaxIter    = 100
)

// pcgStream is the second word of the PCG state; the seed is the first.
const pcgStream = 0x6a6b6f6e65742d67 // "jkonet-g"

// componentFloor is scikit-learn's 10·eps added to every component's
// responsibility sum, so that an empty component keeps a finite mean.
const componentFloor = 10 * 2.220446049250313e-16

// MixtureOptions configures FitMixture. Zero values select the defaults.
type MixtureOptions struct {
	Components int     // K, the number of components (DefaultComponents)
	Tol        float64 // EM stops when the mean log-likelihood changes by < Tol (DefaultTol)
	RegCovar   float64 // added to each covariance diagonal (DefaultRegCovar)
	MaxIter    int     // EM iterations at most (DefaultMaxIter)
	// MinRelativeVariance is the filter's spread threshold
	// (DefaultMinRelativeVariance; ComponentFilter); < 0 keeps every
	// component, as scikit-learn does.
	MinRelativeVariance float64
	Seed                uint64 // seeds k-means++ (math/rand/v2 PCG)
	Workers             int    // goroutines (GOMAXPROCS); results do not depend on it
}

// FitInfo describes a fit.
type FitInfo struct {
	Iterations       int     // EM iterations run (scikit-learn's n_iter_)
	Converged        bool    // the log-likelihood change fell below Tol
	LogLikelihood    float64 // mean log-likelihood per point of the fit before the filter (scikit-learn's score(X))
	Components       int     // components fitted: K, or fewer (see Note)
	Kept             int     // components kept by the filter (1 when the single-Gaussian fallback is taken, see Note)
	KMeansIterations int     // Lloyd iterations of the initialisation
	Note             string  // fallback taken, if any
}

// FitMixture fits a Gaussian mixture with full covariances to the n =
// len(x)/d points of x as scikit-learn's GaussianMixture(n_components=K,
// covariance_type='full', tol, reg_covar, max_iter, init_params='kmeans',
// n_init=1) does, then applies the component filter of docs/design.md §2.2:
// ComponentFilter with Σ_data the covariance of x plus reg_covar·I, the
// threshold MinRelativeVariance and the minimum weight (d+1)/n. If no
// component passes, the mixture returned is the single Gaussian
// N(mean(x), Σ_data) and FitInfo.Note says so.
//
// Initialisation: k-means++ seeding and Lloyd iterations (scikit-learn's KMeans,
// n_init=1), responsibilities set to the k-means labels. EM: the E-step sets
// r_ik = softmax_k(log w_k + log N(x_i; μ_k, Σ_k)) by log-sum-exp and the
// mean log-likelihood L = mean_i logsumexp_k(·); the M-step sets
// n_k = Σ_i r_ik + 10ε, w_k = n_k / Σ_k n_k, μ_k = Σ_i r_ik x_i / n_k,
// Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / n_k + reg_covar·I. EM stops when
// L changes by less than Tol between iterations, or after MaxIter.
//
// Degenerate data: empty input, a bad shape, NaN or ±Inf give an error. When
// the points hold fewer than K distinct values (duplicates, fewer points than
// K, a single point), K is reduced to the number of distinct values and
// FitInfo.Note says so. Rank-deficient data (d ≥ n, points on a subspace)
// are fitted with the reg_covar-regularised covariances; the filter judges
// them against the equally regularised covariance of the data.
func FitMixture(x []float64, d int, opts MixtureOptions) (*Mixture, FitInfo, error) {
	var info FitInfo
	if err := checkPoints(x, d); err != nil {
		return nil, info, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, info, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, pcgStream))
	centres := kmeansPlusPlus(x, d, opts.Components, rng)
	k := len(centres) / d
	if k < opts.Components {
		info.Note = fmt.Sprintf("the data hold only %d distinct points: fitted %d components instead of %d", k, k, opts.Components)
	}
	labels, kmIter := lloyd(x, d, centres, kmeansMaxIter, kmeansRelTol, opts.Workers)
	info.Components, info.KMeansIterations = k, kmIter

	em := newEM(x, d, k, opts)
	em.setLabels(labels)
	if err := em.mStep(); err != nil {
		return nil, info, err
	}
	lowerBound := math.Inf(-1)
	for info.Iterations < opts.MaxIter {
		info.Iterations++
		prev := lowerBound
		lowerBound = em.eStep(true)
		if err := em.mStep(); err != nil {
			return nil, info, err
		}
		if math.Abs(lowerBound-prev) < opts.Tol {
			info.Converged = true
			break
		}
	}
	info.LogLikelihood = em.eStep(false)
	if math.IsNaN(info.LogLikelihood) || math.IsInf(info.LogLikelihood, 0) {
		return nil, info, fmt.Errorf("density: mixture fit diverged (mean log-likelihood %g)", info.LogLikelihood)
	}
	if opts.MinRelativeVariance < 0 {
		m := em.m.FilterComponents(ComponentFilter{})
		info.Kept = m.Len()
		return m, info, nil
	}
	mean, cov := dataMoments(x, d, opts.RegCovar)
	whole, err := NewMixture([]float64{1}, mean, cov, d)
	if err != nil {
		return nil, info, fmt.Errorf("density: covariance of the data: %w", err)
	}
	n := len(x) / d
	m := em.m.FilterComponents(ComponentFilter{
		LogDetData:          whole.logDets[0],
		MinRelativeVariance: opts.MinRelativeVariance,
		MinWeight:           float64(d+1) / float64(n),
	})
	if m.Empty() {
		m = whole
		info.Note = joinNotes(info.Note, fmt.Sprintf("no mixture component spans more than %d of the %d points with a spread above %g of the data's: one Gaussian fitted to all points instead",
			d+1, n, opts.MinRelativeVariance))
	}
	info.Kept = m.Len()
	return m, info, nil
}

// dataMoments returns the mean of the n = len(x)/d points of x and their
// covariance Σ_i (x_i − x̄)(x_i − x̄)ᵀ/n + reg·I (row-major d×d), regularised
// as scikit-learn regularises each component's.
func dataMoments(x []float64, d int, reg float64) (mean, cov []float64) {
	n := len(x) / d
	mean, cov = make([]float64, d), make([]float64, d*d)
	for i := 0; i < n; i++ {
		axpy(1/float64(n), x[i*d:(i+1)*d], mean)
	}
	diff := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := range diff {
			diff[j] = x[i*d+j] - mean[j]
		}
		for j, a := range diff {
			axpy(a/float64(n), diff[:j+1], cov[j*d:j*d+j+1])
		}
	}
	// The upper triangle is the lower one, bit for bit: summed separately,
	// (a/n)·b and (b/n)·a round differently, and over 10^5 points in d = 50
	// entries near 0 differed by more than NewMixture's symmetry check allows.
	for j := 0; j < d; j++ {
		cov[j*d+j] += reg
		for k := 0; k < j; k++ {
			cov[k*d+j] = cov[j*d+k]
		}
	}
	return mean, cov
}

// joinNotes joins two notes with "; ", either possibly empty.
func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// checkPoints validates a point cloud.
func checkPoints(x []float64, d int) error {
	if d <= 0 {
		return fmt.Errorf("density: dimension %d, want ≥ 1", d)
	}
	if len(x) == 0 {
		return fmt.Errorf("density: no points to fit")
	}
	if len(x)%d != 0 {
		return fmt.Errorf("density: %d values are not a whole number of %d-dimensional points", len(x), d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("density: point %d, coordinate %d is %g, want a finite number", i/d, i%d, v)
		}
	}
	return nil
}

// withDefaults fills zero fields with the defaults and rejects negative ones.
func (o MixtureOptions) withDefaults() (MixtureOptions, error) {
	if o.Components < 0 || o.Tol < 0 || o.RegCovar < 0 || o.MaxIter < 0 {
		return o, fmt.Errorf("density: mixture options must not be negative (components %d, tol %g, reg_covar %g, max_iter %d)",
			o.Components, o.Tol, o.RegCovar, o.MaxIter)
	}
	if o.Components == 0 {
		o.Components = DefaultComponents
	}
	if o.Tol == 0 {
		o.Tol = DefaultTol
	}
	if o.RegCovar == 0 {
		o.RegCovar = DefaultRegCovar
	}
	if o.MaxIter == 0 {
		o.MaxIter = DefaultMaxIter
	}
	if o.MinRelativeVariance == 0 {
		o.MinRelativeVariance = DefaultMinRelativeVariance
	}
	return o, nil
}

// emState holds the EM buffers. The points are kept coordinate-major (d×n)
// and the responsibilities component-major (K×n), so that the loops over a
// block of points run over contiguous memory. Sums over points are formed per
// block of blockSize points and reduced in block order (deterministic for any
// number of workers).
type emState struct {
	x        []float64 // d×n, coordinate l of point i at x[l*n+i]
	n, d, k  int
	workers  int
	regCovar float64
	m        *Mixture
	resp     []float64 // K×n, r_ik at resp[k*n+i]
	spaces   []*workspace
	// Per block: the log-likelihood sum, the first moments K×(1+d)
	// (Σ r_ik, Σ r_ik x_i) and the second moments K×packedLen(d)
	// (Σ r_ik (x_i − μ_k)(x_i − μ_k)ᵀ).
	blockLogLik []float64
	blockFirst  []float64
	blockSecond []float64
}

func newEM(x []float64, d, k int, opts MixtureOptions) *emState {
	n := len(x) / d
	nb := numBlocks(n)
	e := &emState{
		x: make([]float64, n*d), n: n, d: d, k: k,
		workers:     workerCount(opts.Workers, n),
		regCovar:    opts.RegCovar,
		m:           newMixture(k, d),
		resp:        make([]float64, k*n),
		blockLogLik: make([]float64, nb),
		blockFirst:  make([]float64, nb*k*(1+d)),
		blockSecond: make([]float64, nb*k*packedLen(d)),
	}
	toColumns(e.x, n, x, d)
	e.spaces = make([]*workspace, e.workers)
	for w := range e.spaces {
		e.spaces[w] = e.m.newWorkspace(false)
	}
	return e
}

// setFirstMoments sets block b's first moments Σ_i r_ik and Σ_i r_ik x_i
// over the points [lo, hi) from the stored responsibilities.
func (e *emState) setFirstMoments(b, lo, hi int) {
	n, d, stride := e.n, e.d, 1+e.d
	first := e.blockFirst[b*e.k*stride : (b+1)*e.k*stride]
	for k := 0; k < e.k; k++ {
		r := e.resp[k*n+lo : k*n+hi]
		acc := first[k*stride : (k+1)*stride]
		acc[0] = 0
		for _, v := range r {
			acc[0] += v
		}
		for l := 0; l < d; l++ {
			acc[1+l] = dot(r, e.x[l*n+lo:l*n+hi])
		}
	}
}

// setLabels sets one-hot responsibilities from k-means labels, with their
// first moments.
func (e *emState) setLabels(labels []int) {
	clear(e.resp)
	for i, l := range labels {
		e.resp[l*e.n+i] = 1
	}
	forEachBlock(e.n, e.workers, func(_, b, lo, hi int) {
		e.setFirstMoments(b, lo, hi)
	})
}

// eStep computes the responsibilities under the current parameters and
// returns the mean log-likelihood per point. With update it stores them with
// their first moments for the next M-step.
func (e *emState) eStep(update bool) float64 {
	n := e.n
	forEachBlock(n, e.workers, func(w, b, lo, hi int) {
		ws := e.spaces[w]
		nb := hi - lo
		e.m.posteriorBlock(e.x[lo:], n, nb, ws)
		ll := 0.0
		for _, v := range ws.logp[:nb] {
			ll += v
		}
		e.blockLogLik[b] = ll
		if update {
			for k := 0; k < e.k; k++ {
				copy(e.resp[k*n+lo:k*n+hi], ws.post[k*blockSize:k*blockSize+nb])
			}
			e.setFirstMoments(b, lo, hi)
		}
	})
	sum := 0.0
	for _, v := range e.blockLogLik {
		sum += v
	}
	return sum / float64(n)
}

// mStep sets the weights, means and covariances from the stored
// responsibilities and their first moments, and factors the covariances.
func (e *emState) mStep() error {
	n, d, k, tri := e.n, e.d, e.k, packedLen(e.d)
	m := e.m
	// Weights and means from the first moments, reduced in block order.
	clear(m.weights)
	clear(m.means)
	stride := k * (1 + d)
	for b := range e.blockLogLik {
		first := e.blockFirst[b*stride : (b+1)*stride]
		for c := 0; c < k; c++ {
			acc := first[c*(1+d) : (c+1)*(1+d)]
			m.weights[c] += acc[0]
			mu := m.means[c*d : (c+1)*d]
			for j, v := range acc[1:] {
				mu[j] += v
			}
		}
	}
	for c := range m.weights {
		m.weights[c] += componentFloor
		inv := 1 / m.weights[c]
		for j := c * d; j < (c+1)*d; j++ {
			m.means[j] *= inv
		}
	}
	// Second moments about the new means, Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ
	// (lower triangle), per block.
	forEachBlock(n, e.workers, func(w, b, lo, hi int) {
		ws := e.spaces[w]
		nb := hi - lo
		second := e.blockSecond[b*k*tri : (b+1)*k*tri]
		for c := 0; c < k; c++ {
			r := e.resp[c*n+lo : c*n+hi]
			subtractMean(e.x[lo:], n, nb, m.means[c*d:(c+1)*d], ws.diff)
			acc := second[c*tri : (c+1)*tri]
			rd := ws.tmp[:len(r)]
			for j := 0; j < d; j++ {
				dj := ws.diff[j*blockSize : j*blockSize+nb]
				dj = dj[:len(r)]
				for i, v := range r {
					rd[i] = v * dj[i]
				}
				for l := 0; l <= j; l++ {
					acc[j*(j+1)/2+l] = dot(rd, ws.diff[l*blockSize:l*blockSize+nb])
				}
			}
		}
	})
	clear(m.covariances)
	for b := range e.blockLogLik {
		for j, v := range e.blockSecond[b*k*tri : (b+1)*k*tri] {
			m.covariances[j] += v
		}
	}
	for c, nk := range m.weights {
		cov := m.covariances[c*tri : (c+1)*tri]
		inv := 1 / nk
		for j := range cov {
			cov[j] *= inv
		}
		for j := 0; j < d; j++ {
			cov[j*(j+3)/2] += e.regCovar
		}
	}
	if err := m.factorCovariances(); err != nil {
		return fmt.Errorf("density: mixture fit failed: some components have an ill-defined covariance (collapsed samples); use fewer components or a larger reg_covar (%w)", err)
	}
	return m.normaliseWeights()
}
