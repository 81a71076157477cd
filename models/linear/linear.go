package linear

import (
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Linear model kinds (docs/design.md §4.1).
const (
	Kind          = "linear"           // V + β + U
	PotentialKind = "linear-potential" // V only
)

const (
	linearMaxExponent = 4  // monomial exponents per coordinate run over 0..4
	linearGridSize    = 10 // bump centres per coordinate
	linearGridLo      = -4.0
	linearGridHi      = 4.0
	linearBumpWidth   = 0.5 // φ_c(v) = exp(−‖v − c‖²/0.5)
	// linearFactors is the length of one coordinate's factor table: the
	// powers v^0..v^4, then the bump factors of the 10 grid values.
	linearFactors = linearMaxExponent + 1 + linearGridSize
	// linearChunkFloats bounds the design rows held at once during a fit
	// (32 MiB of float64).
	linearChunkFloats = 1 << 22
	// linearChunkPairs is the most pairs whose design rows are built per
	// chunk, before they are folded into the normal equations.
	linearChunkPairs = 256
)

// MaxDim is the largest dimension the linear models take: the bump grid has
// 10^d centres.
const MaxDim = 4

// DefaultRidge is the ridge λ of docs/design.md §5.
const DefaultRidge = 0.01

// Model is a fitted (or loaded) linear feature model.
type Model struct {
	kind  string
	basis *linearBasis
	theta []float64 // [θ_V (p) | θ_U (p) | θ_β (1)] for linear, [θ_V (p)] for linear-potential
}

// New rebuilds a model from saved parameters θ (layout as Layout
// describes), checking kind, dimension and length.
func New(kind string, d int, theta []float64) (*Model, error) {
	m, err := newModel(kind, d)
	if err != nil {
		return nil, err
	}
	if want := m.paramCount(); len(theta) != want {
		return nil, fmt.Errorf("%s model in d = %d has %d parameters, got %d", kind, d, want, len(theta))
	}
	m.theta = append([]float64(nil), theta...)
	return m, nil
}

func newModel(kind string, d int) (*Model, error) {
	if kind != Kind && kind != PotentialKind {
		return nil, fmt.Errorf("unknown linear model kind %q (want %s or %s)", kind, Kind, PotentialKind)
	}
	basis, err := newLinearBasis(d)
	if err != nil {
		return nil, err
	}
	return &Model{kind: kind, basis: basis}, nil
}

// FeatureCount is the number p of features in dimension d:
// 5^d − 1 monomials plus 10^d bumps.
func FeatureCount(d int) int {
	return intPow(linearMaxExponent+1, d) - 1 + intPow(linearGridSize, d)
}

// Kind is Kind or PotentialKind.
func (m *Model) Kind() string { return m.kind }

// Dim is the dimension d the model was built for.
func (m *Model) Dim() int { return m.basis.d }

// Theta returns a copy of the flat parameter vector.
func (m *Model) Theta() []float64 { return append([]float64(nil), m.theta...) }

// Layout describes the blocks of Theta: theta_V and theta_U of shape [p], and
// theta_beta of shape [1] holding the signed θ_β (Beta is its absolute value).
func (m *Model) Layout() []models.ParamTensor {
	p := m.basis.size()
	layout := []models.ParamTensor{{Name: "theta_V", Offset: 0, Shape: []int{p}}}
	if m.kind == Kind {
		layout = append(layout,
			models.ParamTensor{Name: "theta_U", Offset: p, Shape: []int{p}},
			models.ParamTensor{Name: "theta_beta", Offset: 2 * p, Shape: []int{1}})
	}
	return layout
}

// PotentialAt is V; the linear model has no time input.
func (m *Model) PotentialAt(float64) models.Energy { return m.Potential() }

// Potential is V(x) = Σ_f θ_V,f φ_f(x).
func (m *Model) Potential() models.Energy {
	return linearEnergy{m.basis, m.theta[:m.basis.size()]}
}

// Interaction is U(z) = Σ_f θ_U,f φ_f(z), or nil for linear-potential.
func (m *Model) Interaction() models.Energy {
	if m.kind != Kind {
		return nil
	}
	p := m.basis.size()
	return linearEnergy{m.basis, m.theta[p : 2*p]}
}

// Beta is the diffusion coefficient |θ_β| (0 for linear-potential).
func (m *Model) Beta() float64 {
	if m.kind != Kind {
		return 0
	}
	return math.Abs(m.theta[2*m.basis.size()])
}

// paramCount is the length of θ: p for linear-potential, 2p + 1 for linear.
func (m *Model) paramCount() int {
	if m.kind == Kind {
		return 2*m.basis.size() + 1
	}
	return m.basis.size()
}

// Fit minimises the JKOnet* loss of docs/design.md §5 over θ in closed form.
// With, per pair i, the d × P matrix Y_i = [∇φ(x_i) | mean_j ∇φ(x_i − x_j) | s(y_i)]
// (the interaction mean over the source population of the pair's transition,
// self included; linear-potential keeps only ∇φ(x_i)), it solves
//
//	(λI + Σ_i τ_i² w_i Y_iᵀY_i) θ = −Σ_i τ_i w_i Y_iᵀ(y_i − x_i),
//
// the normal equations of λ‖θ‖² + Σ_i w_i ‖τ_i Y_i θ + (y_i − x_i)‖².
func Fit(kind string, p *models.Pairs, lambda float64) (*Model, error) {
	m, err := newModel(kind, p.D)
	if err != nil {
		return nil, err
	}
	if !(lambda >= 0) || math.IsInf(lambda, 1) {
		return nil, fmt.Errorf("linear model: ridge λ must be finite and ≥ 0, got %g", lambda)
	}
	if err := m.checkPairs(p); err != nil {
		return nil, err
	}
	gram, rhs := m.normalEquations(p)
	for i := range gram.SymmetricDim() {
		gram.SetSym(i, i, gram.At(i, i)+lambda)
	}
	theta, err := solveSymmetric(gram, rhs)
	if err != nil {
		return nil, err
	}
	m.theta = theta
	return m, nil
}

func (m *Model) checkPairs(p *models.Pairs) error {
	d, n := p.D, len(p.W)
	if n == 0 {
		return fmt.Errorf("linear model: no coupling pairs to fit")
	}
	type field struct {
		name   string
		values []float64
		want   int
	}
	fields := []field{{"X", p.X, n * d}, {"Y", p.Y, n * d}, {"W", p.W, n}, {"Tau", p.Tau, n}}
	if m.kind == Kind {
		fields = append(fields, field{"Score", p.Score, n * d})
	}
	for _, f := range fields {
		if len(f.values) != f.want {
			return fmt.Errorf("linear model: %s has %d values, expected %d (%d pairs in d = %d)", f.name, len(f.values), f.want, n, d)
		}
		for i, v := range f.values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("linear model: %s[%d] is %g, expected a finite number", f.name, i, v)
			}
		}
	}
	if len(p.K) != n {
		return fmt.Errorf("linear model: K has %d values, expected %d (one transition per pair)", len(p.K), n)
	}
	for i, w := range p.W {
		if w < 0 {
			return fmt.Errorf("linear model: pair %d has weight %g, expected ≥ 0", i, w)
		}
	}
	if m.kind != Kind {
		return nil // the transitions only matter for the interaction mean
	}
	for i, k := range p.K {
		if k < 0 || k >= len(p.Sources) {
			return fmt.Errorf("linear model: pair %d belongs to transition %d, but %d source populations were given", i, k, len(p.Sources))
		}
	}
	for k, src := range p.Sources {
		if len(src) == 0 || len(src)%d != 0 {
			return fmt.Errorf("linear model: source population of transition %d has %d values, expected a positive multiple of d = %d", k, len(src), d)
		}
	}
	return nil
}

// normalEquations returns G = Σ_i τ_i² w_i Y_iᵀY_i and r = −Σ_i τ_i w_i Y_iᵀ(y_i − x_i).
// The pairs are processed in chunks: the weighted design rows A_i = √w_i τ_i Y_i
// and b_i = √w_i (y_i − x_i) of a chunk are built in parallel, then folded in
// serially in pair order (G += AᵀA, r −= Aᵀb), so the result does not depend on
// the number of cores.
func (m *Model) normalEquations(p *models.Pairs) (*mat.SymDense, []float64) {
	d, cols := p.D, m.paramCount()
	chunk := max(1, min(linearChunkPairs, linearChunkFloats/(d*cols)))
	a := make([]float64, chunk*d*cols)
	b := make([]float64, chunk*d)
	var interactions []*linearInteraction // one workspace per worker
	if m.kind == Kind {
		maxN := 0
		for _, src := range p.Sources {
			maxN = max(maxN, len(src)/d)
		}
		for range min(runtime.GOMAXPROCS(0), chunk) {
			interactions = append(interactions, newLinearInteraction(m.basis, maxN))
		}
	}
	gram := mat.NewSymDense(cols, nil)
	rhs := make([]float64, cols)
	for start := 0; start < len(p.W); start += chunk {
		end := min(start+chunk, len(p.W))
		rows := (end - start) * d
		m.designRows(p, start, end, a, b, interactions)
		design := mat.NewDense(rows, cols, a[:rows*cols])
		gram.SymRankK(gram, 1, design.T())
		blas64.Gemv(blas.Trans, -1, design.RawMatrix(), blas64.Vector{N: rows, Inc: 1, Data: b[:rows]}, 1,
			blas64.Vector{N: cols, Inc: 1, Data: rhs})
	}
	return gram, rhs
}

// designRows writes, for pairs start ≤ i < end, the d rows of A_i = √w_i τ_i Y_i
// into a (row length paramCount) and b_i = √w_i (y_i − x_i) into b, spreading
// the pairs over the cores (one interaction workspace each; nil for
// linear-potential).
func (m *Model) designRows(p *models.Pairs, start, end int, a, b []float64, interactions []*linearInteraction) {
	d, cols, nf := p.D, m.paramCount(), m.basis.size()
	workers := min(runtime.GOMAXPROCS(0), end-start)
	if interactions != nil {
		workers = min(workers, len(interactions))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var t linearFactorTable
			for i := start + w; i < end; i += workers {
				rows := a[(i-start)*d*cols : (i-start+1)*d*cols]
				clear(rows)
				x := p.X[i*d : (i+1)*d]
				sw := math.Sqrt(p.W[i])
				scale := sw * p.Tau[i]
				t.fill(x)
				m.basis.addJacobian(&t, rows, cols, scale)
				if m.kind == Kind {
					interactions[w].addMeanJacobian(x, p.Sources[p.K[i]], rows[nf:], cols, scale)
					for c := range d {
						rows[c*cols+2*nf] = scale * p.Score[i*d+c]
					}
				}
				for c := range d {
					b[(i-start)*d+c] = sw * (p.Y[i*d+c] - x[c])
				}
			}
		})
	}
	wg.Wait()
}

// solveSymmetric solves G θ = r by Cholesky, falling back to an LU solve when
// G is not numerically positive definite.
func solveSymmetric(gram *mat.SymDense, rhs []float64) ([]float64, error) {
	n := gram.SymmetricDim()
	r := mat.NewVecDense(n, rhs)
	theta := mat.NewVecDense(n, nil)
	var chol mat.Cholesky
	var err error
	if chol.Factorize(gram) {
		err = chol.SolveVecTo(theta, r)
	} else {
		err = theta.SolveVec(mat.DenseCopyOf(gram), r)
	}
	// A mat.Condition error still comes with the solution; judge it by its values.
	if _, illConditioned := err.(mat.Condition); err != nil && !illConditioned {
		return nil, fmt.Errorf("linear model: normal equations cannot be solved (%w); try a larger ridge λ", err)
	}
	out := theta.RawVector().Data
	for _, v := range out {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("linear model: the solve gave non-finite parameters (ill-conditioned normal equations); try a larger ridge λ")
		}
	}
	return out, nil
}

// linearBasis is the feature set in dimension d. factor[f*d+a] is the index,
// in coordinate a's factor table, of feature f's factor.
type linearBasis struct {
	d      int
	factor []uint8
}

func newLinearBasis(d int) (*linearBasis, error) {
	if d > MaxDim {
		return nil, fmt.Errorf("linear models support d ≤ %d (the feature grid has 10^d bumps); got d = %d", MaxDim, d)
	}
	if d < 1 {
		return nil, fmt.Errorf("linear models need dimension d ≥ 1; got d = %d", d)
	}
	nMono := intPow(linearMaxExponent+1, d)
	nBump := intPow(linearGridSize, d)
	factor := make([]uint8, 0, FeatureCount(d)*d)
	// Row-major digits of i in base `base`, offset into the factor table.
	appendDigits := func(i, base, offset int) {
		for a := range d {
			factor = append(factor, uint8(offset+i/intPow(base, d-1-a)%base))
		}
	}
	for e := 1; e < nMono; e++ { // e = 0 is the constant, left out
		appendDigits(e, linearMaxExponent+1, 0)
	}
	for c := range nBump {
		appendDigits(c, linearGridSize, linearMaxExponent+1)
	}
	return &linearBasis{d: d, factor: factor}, nil
}

func (b *linearBasis) size() int { return len(b.factor) / b.d }

// linearFactorTable holds, for one point v, each coordinate's factors
// val[a*linearFactors + j] and their derivatives der[…] in v_a (see
// oneDimFactors for the order).
type linearFactorTable struct {
	val, der [MaxDim * linearFactors]float64
}

func (t *linearFactorTable) fill(v []float64) {
	for a, x := range v {
		span := a * linearFactors
		oneDimFactors(x, (*[linearFactors]float64)(t.val[span:]), (*[linearFactors]float64)(t.der[span:]))
	}
}

// oneDimFactors writes the factors of one coordinate x and their derivatives:
// x^j and j·x^{j−1} for j ≤ 4, then for j = 5 + m the bump factor
// G_m = exp(−(x − g_m)²/0.5) and −2(x − g_m)/0.5·G_m, g_m = −4 + m·δ, δ = 8/9.
//
// The bump factors take two exponentials instead of ten: stepping by s = ±1
// along the grid, G_{m+s} = G_m·q with q = exp((2(x − g_m)sδ − δ²)/0.5), and
// each step multiplies q by exp(−2δ²/0.5). The walk starts at the grid end
// nearer to x, so the start value underflows only when every factor does.
func oneDimFactors(x float64, val, der *[linearFactors]float64) {
	val[0], der[0] = 1, 0
	for e := 1; e <= linearMaxExponent; e++ {
		val[e] = val[e-1] * x
		der[e] = float64(e) * val[e-1]
	}
	m, step := 0, 1
	if x > 0 {
		m, step = linearGridSize-1, -1
	}
	r := x - linearGridValue(m)
	g := math.Exp(-r * r / linearBumpWidth)
	q := math.Exp((2*r*float64(step)*linearGridSpacing - linearGridSpacing*linearGridSpacing) / linearBumpWidth)
	for range linearGridSize {
		val[linearMaxExponent+1+m] = g
		der[linearMaxExponent+1+m] = -2 * (x - linearGridValue(m)) / linearBumpWidth * g
		m += step
		g *= q
		q *= linearBumpRatioStep
	}
}

// linearGridSpacing is δ, the distance between neighbouring grid values.
const linearGridSpacing = (linearGridHi - linearGridLo) / (linearGridSize - 1)

// linearBumpRatioStep is exp(−2δ²/0.5), the factor between successive ratios
// G_{m+s}/G_m of oneDimFactors.
var linearBumpRatioStep = math.Exp(-2 * linearGridSpacing * linearGridSpacing / linearBumpWidth)

// linearGridValue is g_m, the m-th bump centre coordinate.
func linearGridValue(m int) float64 { return linearGridLo + float64(m)*linearGridSpacing }

// feature returns φ_f(v) for the point of table t and writes ∂φ_f/∂v_a into
// partial[a]: for φ = Π_a u_a(v_a), ∂φ/∂v_a = u_a′ Π_{b≠a} u_b, built from
// running prefix products so that no division is needed.
func (b *linearBasis) feature(t *linearFactorTable, f int, partial *[MaxDim]float64) float64 {
	value := 1.0
	for a, j := range b.factor[f*b.d : (f+1)*b.d] {
		u := t.val[a*linearFactors+int(j)]
		partial[a] = value * t.der[a*linearFactors+int(j)]
		for c := range a {
			partial[c] *= u
		}
		value *= u
	}
	return value
}

// addJacobian adds scale·∂φ_f/∂v_a into jac[a*stride + f] for every feature f.
func (b *linearBasis) addJacobian(t *linearFactorTable, jac []float64, stride int, scale float64) {
	var partial [MaxDim]float64
	for f := range b.size() {
		b.feature(t, f, &partial)
		for a := range b.d {
			jac[a*stride+f] += scale * partial[a]
		}
	}
}

// linearInteraction computes the interaction block of a pair's design rows,
// mean_j ∂φ_f(x − x_j)/∂v_a over a source population, for one pair at a time.
// Within one family of features (the monomials, or the bumps), with L factors
// per coordinate, feature (i_0, …, i_{d−1}) is Π_b u_{b,i_b}, so
//
//	Σ_j ∂φ_(i_0,…,i_{d−1})/∂v_a (x − x_j) = Σ_j F_0[i_0, j] · R[(i_1, …, i_{d−1}), j],
//
// where F_b[i, j] is coordinate b's factor i at x_b − x_{j,b} (its derivative
// when b = a) and R is the row-wise product of F_1 … F_{d−1} (a Khatri–Rao
// product, all ones in d = 1): one matrix product F_0 Rᵀ per coordinate and
// family.
type linearInteraction struct {
	basis    *linearBasis
	n        int                       // size of the loaded population
	val, der [MaxDim][]float64         // per coordinate, linearFactors × n: F_b and its derivative
	rest     []float64                 // R, up to 10^{d−1} × n
	monomial []float64                 // the 5^d monomial products, the constant included
	factor   [2][linearFactors]float64 // scratch for oneDimFactors
}

func newLinearInteraction(b *linearBasis, maxN int) *linearInteraction {
	w := &linearInteraction{
		basis:    b,
		rest:     make([]float64, intPow(linearGridSize, b.d-1)*maxN),
		monomial: make([]float64, intPow(linearMaxExponent+1, b.d)),
	}
	for a := range b.d {
		w.val[a] = make([]float64, linearFactors*maxN)
		w.der[a] = make([]float64, linearFactors*maxN)
	}
	return w
}

// addMeanJacobian adds scale·mean_j ∂φ_f(x − x_j)/∂v_a, over the population
// src (row-major n×d), into jac[a*stride + f] for every feature f.
func (w *linearInteraction) addMeanJacobian(x, src []float64, jac []float64, stride int, scale float64) {
	d := w.basis.d
	n := len(src) / d
	w.n = n
	for j := range n {
		for a := range d {
			oneDimFactors(x[a]-src[j*d+a], &w.factor[0], &w.factor[1])
			for i := range linearFactors {
				w.val[a][i*n+j] = w.factor[0][i]
				w.der[a][i*n+j] = w.factor[1][i]
			}
		}
	}
	nMono := len(w.monomial) - 1
	alpha := scale / float64(n)
	for a := range d {
		row := jac[a*stride : a*stride+w.basis.size()]
		clear(w.monomial)
		w.familyProduct(a, 0, linearMaxExponent+1, alpha, w.monomial)
		for f, v := range w.monomial[1:] { // the constant is not a feature
			row[f] += v
		}
		w.familyProduct(a, linearMaxExponent+1, linearGridSize, alpha, row[nMono:])
	}
}

// familyProduct adds alpha·F_0 Rᵀ into out (L^d values, row-major in
// (i_0, …, i_{d−1})) for the family whose factors are rows offset … offset+L−1 of
// the tables, differentiating coordinate a.
func (w *linearInteraction) familyProduct(a, offset, L int, alpha float64, out []float64) {
	d, n := w.basis.d, w.n
	table := func(b int) []float64 { // F_b, or its derivative for b = a
		if b == a {
			return w.der[b]
		}
		return w.val[b]
	}
	restRows := intPow(L, d-1)
	for r := range restRows {
		row := w.rest[r*n : (r+1)*n]
		for j := range row {
			row[j] = 1
		}
		digits := r // (i_1, …, i_{d−1}) in base L, i_{d−1} least significant
		for b := d - 1; b >= 1; b-- {
			i := offset + digits%L
			u := table(b)[i*n : (i+1)*n]
			digits /= L
			for j := range row {
				row[j] *= u[j]
			}
		}
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, alpha,
		blas64.General{Rows: L, Cols: n, Stride: n, Data: table(0)[offset*n : (offset+L)*n]},
		blas64.General{Rows: restRows, Cols: n, Stride: n, Data: w.rest[:restRows*n]},
		1, blas64.General{Rows: L, Cols: restRows, Stride: restRows, Data: out[:L*restRows]})
}

// linearEnergy is E(v) = Σ_f θ_f φ_f(v), ∇E(v) = Σ_f θ_f ∇φ_f(v). It holds no
// mutable state and is safe for concurrent use.
type linearEnergy struct {
	basis *linearBasis
	theta []float64
}

func (e linearEnergy) Dim() int { return e.basis.d }

func (e linearEnergy) Eval(x []float64, d int, val, grad []float64) {
	if d != e.basis.d {
		panic(fmt.Sprintf("linear energy built for d = %d evaluated with d = %d", e.basis.d, d))
	}
	var t linearFactorTable
	var partial [MaxDim]float64
	for i := range len(x) / d {
		t.fill(x[i*d : (i+1)*d])
		var value float64
		var g [MaxDim]float64
		for f, th := range e.theta {
			value += th * e.basis.feature(&t, f, &partial)
			for a := range d {
				g[a] += th * partial[a]
			}
		}
		if val != nil {
			val[i] = value
		}
		if grad != nil {
			copy(grad[i*d:(i+1)*d], g[:d])
		}
	}
}

func intPow(base, exp int) int {
	r := 1
	for range exp {
		r *= base
	}
	return r
}
