package networks

import (
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// HiddenWidth is the width of both hidden layers of the learned networks
// (docs/design.md §4.2: d → 64 → 64 → 1).
const HiddenWidth = 64

// MLP is the network p ∈ R^In → R with two softplus hidden layers of width
// Hidden and a linear output. In the row-vector convention used throughout
// (a point is a row, W_l is fan_in × fan_out):
//
//	z₁ = p W₁ + b₁,  h₁ = softplus(z₁)
//	z₂ = h₁ W₂ + b₂, h₂ = softplus(z₂)
//	V(p) = h₂ W₃ + b₃
//
// Params is a view of In·H + H + H² + H + H + 1 numbers (H = Hidden) laid out
// as [W₁ (In×H) | b₁ (H) | W₂ (H×H) | b₂ (H) | W₃ (H×1) | b₃ (1)], matrices
// row-major. An MLP is an models.Energy in dimension In; Eval is safe for concurrent
// use (its scratch space comes from a pool) as long as Params is not written
// meanwhile.
type MLP struct {
	In, Hidden int
	Params     []float64
}

// MLPParamCount is the length of the parameter view of an MLP.
func MLPParamCount(in, hidden int) int {
	return in*hidden + hidden + hidden*hidden + hidden + hidden + 1
}

// mlpLayout describes the tensors of an MLP whose view starts at offset in
// the flat buffer, named prefix+"W1", prefix+"b1", …, prefix+"b3".
func mlpLayout(prefix string, in, hidden, offset int) []models.ParamTensor {
	layout := []models.ParamTensor{
		{Name: "W1", Shape: []int{in, hidden}},
		{Name: "b1", Shape: []int{hidden}},
		{Name: "W2", Shape: []int{hidden, hidden}},
		{Name: "b2", Shape: []int{hidden}},
		{Name: "W3", Shape: []int{hidden, 1}},
		{Name: "b3", Shape: []int{1}},
	}
	for i := range layout {
		layout[i].Name = prefix + layout[i].Name
		layout[i].Offset = offset
		offset += layout[i].Size()
	}
	return layout
}

// mlpTensors are the six tensors of an MLP as slices of one flat buffer, of
// the parameters or of a gradient with the same layout.
type mlpTensors struct {
	w1, b1, w2, b2, w3, b3 []float64
}

// split cuts buf (the layout of Params) into its tensors.
func (m MLP) split(buf []float64) mlpTensors {
	in, h := m.In, m.Hidden
	var t mlpTensors
	t.w1, buf = buf[:in*h], buf[in*h:]
	t.b1, buf = buf[:h], buf[h:]
	t.w2, buf = buf[:h*h], buf[h*h:]
	t.b2, buf = buf[:h], buf[h:]
	t.w3, buf = buf[:h], buf[h:]
	t.b3 = buf[:1]
	return t
}

// initLeCun draws LeCun-normal weights, W_l ~ N(0, 1/fan_in) elementwise,
// and sets the biases to zero.
func (m MLP) initLeCun(rng *rand.Rand) {
	t := m.split(m.Params)
	for _, layer := range []struct {
		w     []float64
		fanIn int
	}{{t.w1, m.In}, {t.w2, m.Hidden}, {t.w3, m.Hidden}} {
		std := 1 / math.Sqrt(float64(layer.fanIn))
		for i := range layer.w {
			layer.w[i] = std * rng.NormFloat64()
		}
	}
	for _, b := range [][]float64{t.b1, t.b2, t.b3} {
		clear(b)
	}
}

// Dim is the input dimension In.
func (m MLP) Dim() int { return m.In }

// Eval writes V(x_i) and ∇V(x_i) for the n = len(x)/d points of x; d must
// equal In.
func (m MLP) Eval(x []float64, d int, val, grad []float64) {
	if d != m.In {
		panic(fmt.Sprintf("models: MLP with input dimension %d evaluated in dimension %d", m.In, d))
	}
	m.evalAt(x, d, 0, val, grad)
}

// evalChunkRows is how many points Eval pushes through the network at once.
const evalChunkRows = 256

var evalStates = sync.Pool{New: func() any { return new(mlpState) }}

// evalAt evaluates the network at the points [x_i] (d == In) or [x_i, t]
// (d == In−1), writing the value and the gradient in x (first d inputs).
func (m MLP) evalAt(x []float64, d int, t float64, val, grad []float64) {
	st := evalStates.Get().(*mlpState)
	defer evalStates.Put(st)
	n := len(x) / d
	for lo := 0; lo < n; lo += evalChunkRows {
		hi := min(lo+evalChunkRows, n)
		rows := hi - lo
		st.grow(rows, m.In, m.Hidden)
		p := x[lo*d : hi*d]
		if d != m.In {
			p = st.pBuf[:rows*m.In]
			for i := range rows {
				copy(p[i*m.In:], x[(lo+i)*d:(lo+i+1)*d])
				p[i*m.In+d] = t
			}
		}
		var v []float64
		if val != nil {
			v = val[lo:hi]
		}
		m.forward(st, p, rows, v)
		if grad != nil {
			m.inputGrad(st, d, grad[lo*d:hi*d])
		}
	}
}

// mlpState holds, for a block of rows points, the intermediate values of the
// forward pass that the input gradient and its backward pass need. The
// matrices are rows×Hidden, row-major; buffers only grow.
type mlpState struct {
	rows int
	p    []float64 // the rows×In inputs of the last forward pass (pBuf or a caller's slice)
	pBuf []float64 // room for inputs the caller assembles
	h1   []float64 // softplus(z₁)
	s1   []float64 // σ(z₁) = softplus′(z₁)
	s2   []float64 // σ(z₂)
	g2   []float64 // ∂V/∂z₂
	a1   []float64 // ∂V/∂h₁
	g1   []float64 // ∂V/∂z₁
	w2t  []float64 // W₂ᵀ (Hidden×Hidden), for the products with W₂ᵀ
}

// grow makes room for rows points of an MLP of the given shape.
func (s *mlpState) grow(rows, in, hidden int) {
	s.pBuf = growFloats(s.pBuf, rows*in)
	for _, b := range []*[]float64{&s.h1, &s.s1, &s.s2, &s.g2, &s.a1, &s.g1} {
		*b = growFloats(*b, rows*hidden)
	}
	s.w2t = growFloats(s.w2t, hidden*hidden)
}

// growFloats returns b resliced to n elements, reallocated if too small.
func growFloats(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// softplusSigmoid returns softplus(z) = log(1 + eᶻ) and its derivative
// σ(z) = 1/(1 + e⁻ᶻ), both from e = e^(−|z|) so neither overflows:
//
//	softplus(z) = max(z, 0) + log1p(e),  σ(z) = 1/(1 + e) for z ≥ 0, e/(1 + e) for z < 0,
//
// to a few ulps. It has no data-dependent branch (the signs of a layer's
// pre-activations are a coin toss, so a branch would mispredict half the
// time) and takes e and log1p(e) from table-driven approximations
// (negExp, log1pUnit) at under half the cost of math.Exp and math.Log1p:
// the hidden layers evaluate it for every unit of every point, which with
// math's functions took a third of a training step.
func softplusSigmoid(z float64) (softplus, derivative float64) {
	e := negExp(-math.Abs(z))
	u := 1 + e
	r := 1 / u
	l := log1pUnit(e, u, r)
	return pickByNegative(z, z+l, l), pickByNegative(z, r, e*r)
}

// sigmoid is σ(z) = 1/(1 + e⁻ᶻ), equal to softplusSigmoid's derivative.
func sigmoid(z float64) float64 {
	e := negExp(-math.Abs(z))
	r := 1 / (1 + e)
	return pickByNegative(z, r, e*r)
}

// pickByNegative returns ifNotNegative when z's sign bit is clear, and
// ifNegative when it is set, without a branch.
func pickByNegative(z, ifNotNegative, ifNegative float64) float64 {
	negative := uint64(int64(math.Float64bits(z)) >> 63) // all ones or zero
	return math.Float64frombits(math.Float64bits(ifNotNegative)&^negative | math.Float64bits(ifNegative)&negative)
}

// Tables of negExp and log1pUnit: exp2Bits[j] holds the bits of 2^(j/64),
// log1pKnots[j] the knot c = 1 + j/128, 1/c and log c.
var (
	exp2Bits   [64]uint64
	log1pKnots [129]struct{ c, inv, log float64 }
)

func init() {
	for j := range exp2Bits {
		exp2Bits[j] = math.Float64bits(math.Exp2(float64(j) / 64))
	}
	for j := range log1pKnots {
		k := &log1pKnots[j]
		k.c = 1 + float64(j)/128
		k.inv, k.log = 1/k.c, math.Log1p(float64(j)/128)
	}
}

const (
	// roundShift rounds a float64 of magnitude below 2⁵¹ to an integer when
	// added (and leaves the integer in the low bits of the sum).
	roundShift = 0x1.8p52
	// ln2/64 in two parts, the first with trailing zero bits so that
	// k·ln2Hi64 is exact (math/exp.go's Ln2Hi and Ln2Lo, divided by 64).
	ln2Hi64 = 6.93147180369123816490e-01 / 64
	ln2Lo64 = 1.90821492927058770002e-10 / 64
)

// negExp is eˣ for x ≤ 0 to about 2 ulps: x = k·ln2/64 + r with k an integer
// and |r| ≤ ln2/128, eˣ = 2^(k div 64) · 2^((k mod 64)/64) · eʳ, the middle
// factor from a table and eʳ from its Taylor polynomial of degree 5 (the
// remainder r⁶/720 is below 0.3 ulp). Below −700, where the result
// approaches the subnormals, it defers to math.Exp.
func negExp(x float64) float64 {
	if x < -700 {
		return math.Exp(x)
	}
	k := x*(64/math.Ln2) + roundShift
	n := int64(math.Float64bits(k)) << 13 >> 13 // round(x·64/ln2), sign-extended from the mantissa
	k -= roundShift
	r := x - k*ln2Hi64 - k*ln2Lo64
	r2 := r * r
	p := 1 + (r + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120))))
	return math.Float64frombits(exp2Bits[n&63]+uint64(n>>6)<<52) * p
}

// log1pUnit is log1p(e) for 0 ≤ e ≤ 1 given u = 1 + e (rounded) and
// r = 1/u, to about 2 ulps: log u = log c + log1p((u − c)/c) at the nearest
// knot c = 1 + j/128 (|u − c|/c ≤ 1/256, and u − c is exact), the last term
// from its Taylor polynomial of degree 7; then the rounding of u is put back,
// log1p(e) = log u + (e − (u − 1))/u to first order. Near e = 0 the knot is
// c = 1, so small e keep their full relative precision.
func log1pUnit(e, u, r float64) float64 {
	// The low bits of the shifted sum are round(128·(u − 1)) ∈ [0, 128];
	// min keeps a NaN's payload bits from indexing past the table.
	k := &log1pKnots[min(math.Float64bits((u-1)*128+roundShift)&255, 128)]
	f := (u - k.c) * k.inv
	f2 := f * f
	// f − f²/2 + f³/3 − f⁴/4 + f⁵/5 − f⁶/6 + f⁷/7
	q := (-1.0/2 + f*(1.0/3)) + f2*((-1.0/4+f*(1.0/5))+f2*(-1.0/6+f*(1.0/7)))
	return k.log + (f + f2*q) + (e-(u-1))*r
}

// forward runs the network on the rows×In points p (p may be a view of the
// caller's data; it is kept in s.p for the backward pass), writes V(p_i) into
// val when val is non-nil, and computes the backward pass of V to its input as
// forward ops:
//
//	h₁ = softplus(z₁), s₁ = σ(z₁), s₂ = σ(z₂)
//	g₂ = ∂V/∂z₂ = s₂ ⊙ W₃ᵀ
//	a₁ = ∂V/∂h₁ = g₂ W₂ᵀ
//	g₁ = ∂V/∂z₁ = a₁ ⊙ s₁
//
// (softplus′ = σ). ∇ₚV = g₁ W₁ᵀ is left to inputGrad.
func (m MLP) forward(s *mlpState, p []float64, rows int, val []float64) {
	h := m.Hidden
	t := m.split(m.Params)
	n := rows * h
	s.rows, s.p = rows, p
	h1, s1, s2, g2 := s.h1[:n], s.s1[:n], s.s2[:n], s.g2[:n]

	// z₁ = p W₁ + b₁ (in h1), then h₁ and s₁ in place.
	fillRows(h1, t.b1)
	gemm(false, false, rows, h, m.In, p, m.In, t.w1, h, 1, h1, h)
	for i, z := range h1 {
		h1[i], s1[i] = softplusSigmoid(z)
	}

	// z₂ = h₁ W₂ + b₂ (in s2), then s₂, g₂ and, if asked, V = softplus(z₂) W₃ + b₃.
	fillRows(s2, t.b2)
	gemm(false, false, rows, h, h, h1, h, t.w2, h, 1, s2, h)
	if val != nil {
		for i := range rows {
			v := t.b3[0]
			for j, z := range s2[i*h : (i+1)*h] {
				sp, _ := softplusSigmoid(z)
				v += sp * t.w3[j]
			}
			val[i] = v
		}
	}
	for i := range rows {
		row := i * h
		for j, w := range t.w3 {
			sg := sigmoid(s2[row+j])
			s2[row+j], g2[row+j] = sg, sg*w
		}
	}

	// a₁ = g₂ W₂ᵀ, g₁ = a₁ ⊙ s₁.
	a1, g1, w2t := s.a1[:n], s.g1[:n], s.w2t[:h*h]
	for i := range h {
		for j := range h {
			w2t[j*h+i] = t.w2[i*h+j]
		}
	}
	gemm(false, false, rows, h, h, g2, h, w2t, h, 0, a1, h)
	for i := range g1 {
		g1[i] = a1[i] * s1[i]
	}
}

// inputGrad writes the gradient of V in its first dx inputs after forward:
// out (rows×dx) = g₁ W₁[:dx]ᵀ, i.e. ∂V/∂p_k = Σ_j W₁[k, j] g₁_j.
func (m MLP) inputGrad(s *mlpState, dx int, out []float64) {
	h := m.Hidden
	gemm(false, true, s.rows, dx, h, s.g1, h, m.Params, h, 0, out, dx)
}

// backward adds to dm (the layout of Params) the gradient with respect to the
// parameters of Φ = Σ_i ⟨G_i, ∇V(p_i)[:dx]⟩, for the upstream G = up
// (rows×dx) and the points of the last forward pass (and the W₂ᵀ it left
// in the state). It overwrites the state's g₁, g₂ and scratch (rows×Hidden).
//
// Reverse mode through the forward ops above, bars meaning ∂Φ/∂·, with G
// padded by zeros to In columns, and softplus′ = σ, σ′ = σ(1 − σ):
//
//	∇V = g₁ W₁ᵀ:       ḡ₁ = G W₁ =: u₁,                 W̄₁ += Gᵀ g₁
//	g₁ = a₁ ⊙ s₁:      ā₁ = u₁ ⊙ s₁ =: c₁,              s̄₁ = u₁ ⊙ a₁
//	a₁ = g₂ W₂ᵀ:       ḡ₂ = c₁ W₂ =: u₂,                W̄₂ += c₁ᵀ g₂
//	g₂ = s₂ ⊙ W₃ᵀ:     W̄₃ += Σ_rows u₂ ⊙ s₂,            s̄₂ = u₂ ⊙ W₃ᵀ
//	s₂ = σ(z₂):        z̄₂ = s̄₂ ⊙ s₂ ⊙ (1 − s₂) =: e₂
//	z₂ = h₁ W₂ + b₂:   b̄₂ += Σ_rows e₂, W̄₂ += h₁ᵀ e₂,   h̄₁ = e₂ W₂ᵀ
//	h₁, s₁ of z₁:      z̄₁ = h̄₁ ⊙ s₁ + s̄₁ ⊙ s₁ ⊙ (1 − s₁) =: e₁
//	z₁ = p W₁ + b₁:    b̄₁ += Σ_rows e₁, W̄₁ += pᵀ e₁
//
// b₃ does not enter ∇V, so b̄₃ is left alone.
func (m MLP) backward(s *mlpState, scratch []float64, dx int, up []float64, dm mlpTensors) {
	h, rows := m.Hidden, s.rows
	t := m.split(m.Params)
	n := rows * h
	s1, s2, a1, h1 := s.s1[:n], s.s2[:n], s.a1[:n], s.h1[:n]
	u1, c1, u2 := scratch[:n], s.g1[:n], s.g2[:n]

	// u₁ = G W₁[:dx], W̄₁[:dx] += Gᵀ g₁.
	gemm(false, false, rows, h, dx, up, dx, t.w1, h, 0, u1, h)
	gemm(true, false, dx, h, rows, up, dx, s.g1, h, 1, dm.w1, h)

	// c₁ = u₁ ⊙ s₁ (over g₁), W̄₂ += c₁ᵀ g₂, then u₂ = c₁ W₂ (over g₂).
	for i := range c1 {
		c1[i] = u1[i] * s1[i]
	}
	gemm(true, false, h, h, rows, c1, h, s.g2, h, 1, dm.w2, h)
	gemm(false, false, rows, h, h, c1, h, t.w2, h, 0, u2, h)

	// W̄₃ += Σ u₂ ⊙ s₂; e₂ = u₂ ⊙ W₃ᵀ ⊙ s₂ ⊙ (1 − s₂) in place; b̄₂ += Σ e₂.
	e2 := u2
	for i := range rows {
		row := i * h
		for j := range h {
			sg := s2[row+j]
			dm.w3[j] += u2[row+j] * sg
			e2[row+j] = u2[row+j] * t.w3[j] * sg * (1 - sg)
			dm.b2[j] += e2[row+j]
		}
	}
	gemm(true, false, h, h, rows, h1, h, e2, h, 1, dm.w2, h)

	// h̄₁ = e₂ W₂ᵀ (over c₁), e₁ = h̄₁ ⊙ s₁ + u₁ ⊙ a₁ ⊙ s₁ ⊙ (1 − s₁) in place.
	e1 := c1
	gemm(false, false, rows, h, h, e2, h, s.w2t, h, 0, e1, h)
	for i := range rows {
		row := i * h
		for j := range h {
			sg := s1[row+j]
			e1[row+j] = e1[row+j]*sg + u1[row+j]*a1[row+j]*sg*(1-sg)
			dm.b1[j] += e1[row+j]
		}
	}
	gemm(true, false, m.In, h, rows, s.p, m.In, e1, h, 1, dm.w1, h)
}

// fillRows sets every row of the row-major matrix c (of row length len(row))
// to row.
func fillRows(c, row []float64) {
	for i := 0; i < len(c); i += len(row) {
		copy(c[i:], row)
	}
}

// Blocks of C that gemm hands to gonum's Dgemm: gonum multiplies concurrently,
// spawning goroutines (and allocating) once C has 4 blocks of 64×64, so
// gemm keeps each call below that and leaves concurrency to its callers.
const (
	gemmBlockRows = 64
	gemmBlockCols = 3 * 64
)

// gemm sets C = op(A) op(B) + beta·C for row-major matrices, op(A) m×k and
// op(B) k×n, where op transposes the stored matrix when trans is set. The
// products of the networks' hidden layers (op(B) = B, n a multiple of 8) go
// to gemmFMA's AVX2 kernels where the CPU has them, about 5× gonum's speed;
// the rest, and every product elsewhere, to gonum's Dgemm.
func gemm(transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 || gemmFMA(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	impl := blas64.Implementation()
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	for i := 0; i < m; i += gemmBlockRows {
		mb := min(gemmBlockRows, m-i)
		aBlock := a[i*lda:] // rows i… of A
		if transA {
			aBlock = a[i:] // columns i… of the stored Aᵀ
		}
		for j := 0; j < n; j += gemmBlockCols {
			nb := min(gemmBlockCols, n-j)
			bBlock := b[j:]
			if transB {
				bBlock = b[j*ldb:]
			}
			impl.Dgemm(tA, tB, mb, nb, k, 1, aBlock, lda, bBlock, ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}
