package cells

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// PCA is a principal component basis fitted on training cells: a cell x
// (its first len(Mean) columns) maps to y_j = Σ_i (x_i − Mean_i)·Components[j][i].
type PCA struct {
	// Method is "exact" (an SVD of the whole centred matrix) or
	// "randomized" (Halko, Martinsson & Tropp 2011, Alg. 4.4 with
	// Oversample extra columns and PowerIterations, seeded by Seed).
	Method          string `json:"method"`
	Seed            uint64 `json:"seed,omitempty"`
	Oversample      int    `json:"oversample,omitempty"`
	PowerIterations int    `json:"power_iterations,omitempty"`
	// Cells is the number of training cells the basis was fitted on.
	Cells int       `json:"cells"`
	Mean  []float64 `json:"mean"`
	// Components are k orthonormal rows, by decreasing variance; each is
	// signed so that its entry of largest magnitude is positive (a rule that
	// does not depend on the order of the cells).
	Components [][]float64 `json:"components"`
	// Variance is each component's variance over the training cells
	// (s_j²/(n−1), scikit-learn's explained_variance_), TotalVariance the
	// sum of the input columns' variances: Σ Variance / TotalVariance is
	// the share of the variance kept.
	Variance      []float64 `json:"variance"`
	TotalVariance float64   `json:"total_variance"`
}

// Randomized SVD settings (scikit-learn's defaults for the oversampling;
// four power iterations keep the error of the kth component small when the
// spectrum decays even slowly, HMT §4.5).
const (
	oversample      = 10
	powerIterations = 4
	// pcaStream is the PCG stream of the random test matrix, so that a seed
	// shared with other steps draws a different sequence.
	pcaStream = 0x5eed_9ca0_0000_0001
	// exactFlops: below this estimate of the exact SVD's cost, 2·n·c·min(n, c)
	// (about a second in pure Go), the exact SVD is taken whatever the
	// randomized one would cost.
	exactFlops = 1e9
)

// useExact chooses the decomposition for n cells, c columns and k
// components: the exact SVD costs about 2·n·c·min(n, c) flops, the
// randomized one 4·n·c·l·(q+1) with l = k + oversample columns and q power
// iterations (each pass is two products with the n×c matrix); the exact one
// is taken when it is cheap or no dearer.
func useExact(n, c, k int) bool {
	exact := 2 * float64(n) * float64(c) * float64(min(n, c))
	l := min(k+oversample, n, c)
	randomized := 4 * float64(n) * float64(c) * float64(l) * (powerIterations + 1)
	return exact <= exactFlops || exact <= randomized
}

// fitPCA fits k components to the rows of x (n×c, n ≥ k, c ≥ k).
func fitPCA(x mat.Matrix, k int, seed uint64) (*PCA, error) {
	n, c := x.Dims()
	p := &PCA{Cells: n, Mean: make([]float64, c)}
	for j := range c {
		col := mat.Col(nil, j, x)
		p.Mean[j] = floats.Sum(col) / float64(n)
		for _, v := range col {
			d := v - p.Mean[j]
			p.TotalVariance += d * d
		}
	}
	p.TotalVariance /= float64(max(n-1, 1))

	var vt *mat.Dense // rows: right singular vectors, by decreasing singular value
	var sv []float64
	var err error
	if useExact(n, c, k) {
		p.Method = "exact"
		a := mat.DenseCopyOf(x)
		centre(a, p.Mean)
		vt, sv, err = rightSingular(a)
	} else {
		p.Method, p.Seed, p.Oversample, p.PowerIterations = "randomized", seed, oversample, powerIterations
		vt, sv, err = randomizedRightSingular(x, p.Mean, min(k+oversample, n, c), powerIterations, seed)
	}
	if err != nil {
		return nil, err
	}
	p.Components = make([][]float64, k)
	p.Variance = make([]float64, k)
	for j := range k {
		row := mat.Row(nil, j, vt)
		signByLargest(row)
		p.Components[j] = row
		p.Variance[j] = sv[j] * sv[j] / float64(max(n-1, 1))
	}
	return p, nil
}

// centre subtracts mean from every row of a.
func centre(a *mat.Dense, mean []float64) {
	n, c := a.Dims()
	for i := range n {
		for j := range c {
			a.Set(i, j, a.At(i, j)-mean[j])
		}
	}
}

// rightSingular returns Vᵀ (min(n, c)×c) and the singular values of a.
func rightSingular(a mat.Matrix) (*mat.Dense, []float64, error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThinV) {
		return nil, nil, errors.New("pca: the SVD did not converge")
	}
	var v mat.Dense
	svd.VTo(&v)
	return mat.DenseCopyOf(v.T()), svd.Values(nil), nil
}

// randomizedRightSingular approximates the top l right singular vectors of
// A = x − 1·meanᵀ without forming A (HMT Alg. 4.4, randomized subspace
// iteration): Y = AΩ for a Gaussian c×l Ω, then q times Q = orth(Y),
// Z = orth(AᵀQ), Y = AZ; finally Q = orth(Y), B = QᵀA (l×c) and the SVD of
// B gives the right singular vectors and values. Products with A are
// products with x corrected by the rank-one mean term.
func randomizedRightSingular(x mat.Matrix, mean []float64, l, q int, seed uint64) (*mat.Dense, []float64, error) {
	n, c := x.Dims()
	mu := mat.NewVecDense(c, mean)
	rng := rand.New(rand.NewPCG(seed, pcaStream))
	omega := mat.NewDense(c, l, nil)
	for i := range c {
		for j := range l {
			omega.Set(i, j, rng.NormFloat64())
		}
	}
	// times returns A·m (n×l) for a c×l matrix m: x·m − 1·(μᵀm).
	times := func(m *mat.Dense) *mat.Dense {
		var y mat.Dense
		y.Mul(x, m)
		var shift mat.VecDense
		shift.MulVec(m.T(), mu)
		for i := range n {
			for j := range l {
				y.Set(i, j, y.At(i, j)-shift.AtVec(j))
			}
		}
		return &y
	}
	// transTimes returns Aᵀ·m (c×l) for an n×l matrix m: xᵀ·m − μ·(1ᵀm).
	transTimes := func(m *mat.Dense) *mat.Dense {
		var z mat.Dense
		z.Mul(x.T(), m)
		colSums := make([]float64, l)
		for j := range l {
			colSums[j] = mat.Sum(m.ColView(j))
		}
		for i := range c {
			for j := range l {
				z.Set(i, j, z.At(i, j)-mean[i]*colSums[j])
			}
		}
		return &z
	}
	y := orthonormalize(times(omega))
	for range q {
		y = orthonormalize(times(orthonormalize(transTimes(y))))
	}
	b := transTimes(y) // Aᵀ Q = Bᵀ
	return rightSingular(b.T())
}

// orthonormalize returns an orthonormal basis of a's columns (thin Q of the
// Householder QR, LAPACK dgeqrf and dorgqr), overwriting a.
func orthonormalize(a *mat.Dense) *mat.Dense {
	g := a.RawMatrix()
	tau := make([]float64, min(g.Rows, g.Cols))
	work := []float64{0}
	lapack64.Geqrf(g, tau, work, -1)
	work = make([]float64, max(int(work[0]), g.Cols))
	lapack64.Geqrf(g, tau, work, len(work))
	lapack64.Orgqr(g, tau, work, len(work))
	return mat.NewDense(g.Rows, g.Cols, blas64.General(g).Data)
}

// signByLargest flips v so that its entry of largest magnitude (the first
// of equal ones) is positive.
func signByLargest(v []float64) {
	best := 0
	for i, x := range v {
		if math.Abs(x) > math.Abs(v[best]) {
			best = i
		}
	}
	if v[best] < 0 {
		for i := range v {
			v[i] = -v[i]
		}
	}
}

// projectRows writes the k components of n rows of x (stride in, the first
// len(Mean) columns used) into y (n×k): y = (x − 1μᵀ)·Cᵀ, centred block by
// block (so rounding does not grow with |μ|) and multiplied by BLAS dgemm.
func (p *PCA) projectRows(y, x []float64, n, in int) {
	const block = 1024
	c, k := len(p.Mean), len(p.Components)
	comps := mat.NewDense(k, c, nil)
	for j, comp := range p.Components {
		comps.SetRow(j, comp)
	}
	centred := mat.NewDense(min(block, n), c, nil)
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		a := centred.Slice(0, hi-lo, 0, c).(*mat.Dense)
		for i := lo; i < hi; i++ {
			row := a.RawRowView(i - lo)
			for j, v := range x[i*in : i*in+c] {
				row[j] = v - p.Mean[j]
			}
		}
		mat.NewDense(hi-lo, k, y[lo*k:hi*k]).Mul(a, comps.T())
	}
}

// validate checks the stored basis' shapes and values.
func (p *PCA) validate(in int) error {
	if len(p.Mean) != in {
		return fmt.Errorf("pca: mean has %d values, expected %d (the columns it is applied to)", len(p.Mean), in)
	}
	if len(p.Components) == 0 || len(p.Variance) != len(p.Components) {
		return fmt.Errorf("pca: expected at least one component and one variance per component, got %d and %d", len(p.Components), len(p.Variance))
	}
	if err := finite("pca mean", p.Mean); err != nil {
		return err
	}
	for j, comp := range p.Components {
		if len(comp) != in {
			return fmt.Errorf("pca: component %d has %d values, expected %d", j, len(comp), in)
		}
		if err := finite(fmt.Sprintf("pca component %d", j), comp); err != nil {
			return err
		}
	}
	return nil
}
