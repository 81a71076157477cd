package linear

import (
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/energytest"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestLinearFeatureCount(t *testing.T) {
	want := map[int]int{1: 4 + 10, 2: 24 + 100, 3: 124 + 1000, 4: 624 + 10000}
	for d, n := range want {
		if got := FeatureCount(d); got != n {
			t.Errorf("FeatureCount(%d) = %d, want %d", d, got, n)
		}
		b, err := newLinearBasis(d)
		if err != nil {
			t.Fatal(err)
		}
		if b.size() != n {
			t.Errorf("d = %d: basis has %d features, want %d", d, b.size(), n)
		}
	}
}

// linearTestFeature is feature f of the documented order, written out
// directly: a monomial Π v_a^{e_a} or a bump exp(−‖v − c‖²/0.5).
func linearTestFeature(f int, v []float64) float64 {
	d := len(v)
	digits := func(i, base int) []int {
		out := make([]int, d)
		for a := d - 1; a >= 0; a-- {
			out[a] = i % base
			i /= base
		}
		return out
	}
	if nMono := intPow(5, d) - 1; f < nMono {
		phi := 1.0
		for a, e := range digits(f+1, 5) {
			phi *= math.Pow(v[a], float64(e))
		}
		return phi
	}
	var r2 float64
	for a, m := range digits(f-(intPow(5, d)-1), 10) {
		c := -4 + 8*float64(m)/9
		r2 += (v[a] - c) * (v[a] - c)
	}
	return math.Exp(-r2 / 0.5)
}

// featureValuesAndGradients evaluates every feature at v through the
// model's own code: phi[f] and grad[f][a] = ∂φ_f/∂v_a.
func featureValuesAndGradients(b *linearBasis, v []float64) (phi []float64, grad [][]float64) {
	var table linearFactorTable
	var partial [MaxDim]float64
	table.fill(v)
	for f := range b.size() {
		phi = append(phi, b.feature(&table, f, &partial))
		grad = append(grad, slices.Clone(partial[:b.d]))
	}
	return phi, grad
}

// linearFDTol bounds |fd − ∂φ|/(1 + |φ| + |∂φ|), as the zoo's tests bound theirs.
// At h = 1e-5 the central difference errs by h²|φ‴|/6 (≤ 1e-10·24·4.5 for a
// quartic factor; a bump's third derivative is ≤ ~30) plus rounding
// ε|φ|/h ≈ 2e-11|φ|; a wrong exponent or centre is off by O(|∂φ|).
const linearFDTol = 1e-7

func TestLinearFeatureValuesAndGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for d := 1; d <= 3; d++ {
		b, err := newLinearBasis(d)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			v := make([]float64, d)
			for a := range v {
				v[a] = 9*rng.Float64() - 4.5
			}
			phi, grad := featureValuesAndGradients(b, v)
			for f := range phi {
				if want := linearTestFeature(f, v); math.Abs(phi[f]-want) > 1e-12*(1+math.Abs(want)) {
					t.Fatalf("d=%d v=%v: φ_%d = %.15g, want %.15g", d, v, f, phi[f], want)
				}
			}
			for a := range d {
				w := slices.Clone(v)
				w[a] = v[a] + energytest.Step
				plus, _ := featureValuesAndGradients(b, w)
				w[a] = v[a] - energytest.Step
				minus, _ := featureValuesAndGradients(b, w)
				for f := range phi {
					fd := (plus[f] - minus[f]) / (2 * energytest.Step)
					scaled := math.Abs(fd-grad[f][a]) / (1 + math.Abs(phi[f]) + math.Abs(grad[f][a]))
					worst = max(worst, scaled)
					if scaled > linearFDTol {
						t.Errorf("d=%d v=%v: ∂φ_%d/∂v_%d = %.12g, finite difference %.12g", d, v, f, a, grad[f][a], fd)
					}
				}
			}
		}
	}
	t.Logf("worst scaled finite-difference error %.2g (tolerance %g)", worst, linearFDTol)
}

// TestLinearBumpFactorsFarOut checks the bump factors of oneDimFactors,
// computed by a recurrence along the grid, against direct exponentials to
// relative accuracy, also far outside the grid (interaction features see
// differences x − x_j), down to the smallest normal float64.
func TestLinearBumpFactorsFarOut(t *testing.T) {
	var val, der [linearFactors]float64
	worst := 0.0
	for x := -25.0; x <= 25; x += 0.037 {
		oneDimFactors(x, &val, &der)
		for m := range linearGridSize {
			c := -4 + 8*float64(m)/9
			want := math.Exp(-(x - c) * (x - c) / 0.5)
			got := val[linearMaxExponent+1+m]
			if want < 0x1p-1022 {
				if got > 0x1p-1000 {
					t.Errorf("x=%g m=%d: factor %g, want %g", x, m, got, want)
				}
				continue
			}
			rel := math.Abs(got-want) / want
			worst = max(worst, rel)
			if rel > 1e-12 {
				t.Errorf("x=%g m=%d: factor %.15g, want %.15g (relative error %.2g)", x, m, got, want, rel)
			}
		}
	}
	t.Logf("worst relative error %.2g", worst)
}

// TestLinearEnergy checks the models.Energy of a random θ: its value is Σ θ_f φ_f,
// its gradient matches finite differences, nil outputs and batching change
// nothing, and Eval does not allocate.
func TestLinearEnergy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 8
	for d := 1; d <= 3; d++ {
		theta := make([]float64, FeatureCount(d))
		for f := range theta {
			theta[f] = rng.NormFloat64()
		}
		m, err := New(PotentialKind, d, theta)
		if err != nil {
			t.Fatal(err)
		}
		e := m.Potential()
		if e.Dim() != d {
			t.Errorf("Dim() = %d, want %d", e.Dim(), d)
		}
		x := zoo.Uniform(rng, n, d)
		val, grad := energytest.Eval(t, fmt.Sprintf("d=%d", d), e, x, d)
		for i := range n {
			v := x[i*d : (i+1)*d]
			var want float64
			for f, th := range theta {
				want += th * linearTestFeature(f, v)
			}
			if math.Abs(val[i]-want) > 1e-10*(1+math.Abs(want)) {
				t.Errorf("d=%d: V(%v) = %.15g, want Σθφ = %.15g", d, v, val[i], want)
			}
			for a := range d {
				fd := energytest.CentralDifference(e, v, a)
				g := grad[i*d+a]
				if math.Abs(fd-g) > linearFDTol*(1+math.Abs(val[i])+math.Abs(g)) {
					t.Errorf("d=%d v=%v: ∂V/∂v_%d = %.12g, finite difference %.12g", d, v, a, g, fd)
				}
			}
		}
		if allocs := testing.AllocsPerRun(10, func() { e.Eval(x, d, val, grad) }); allocs != 0 {
			t.Errorf("d=%d: Eval allocates %v times per batch", d, allocs)
		}
	}
}

// randomLinearPairs builds a small fitting problem: transitions with source
// populations of different sizes, pairs whose source is a point of that
// population, random targets, weights, scores and uneven time steps.
func randomLinearPairs(rng *rand.Rand, d int, popSizes []int) *models.Pairs {
	p := &models.Pairs{D: d}
	for k, n := range popSizes {
		src := zoo.Uniform(rng, n, d)
		p.Sources = append(p.Sources, src)
		tau := 0.5 + rng.Float64()
		for i := range n {
			p.X = append(p.X, src[i*d:(i+1)*d]...)
			for range d {
				p.Y = append(p.Y, 8*rng.Float64()-4)
				p.Score = append(p.Score, rng.NormFloat64())
			}
			p.W = append(p.W, rng.Float64())
			p.Tau = append(p.Tau, tau)
			p.K = append(p.K, k)
		}
	}
	return p
}

// bruteForceDesign stacks, pair by pair and coordinate by coordinate, the
// rows √w_i τ_i Y_i[a, :] of the full design matrix A and the entries
// √w_i (y_i − x_i)_a of b, with the interaction mean taken by a plain loop.
func bruteForceDesign(kind string, p *models.Pairs) (*mat.Dense, *mat.VecDense) {
	d := p.D
	b, _ := newLinearBasis(d)
	nf := b.size()
	cols := nf
	if kind == Kind {
		cols = 2*nf + 1
	}
	var rows, rhs []float64
	for i := range p.W {
		x := p.X[i*d : (i+1)*d]
		_, gx := featureValuesAndGradients(b, x)
		mean := make([][]float64, nf)
		for f := range mean {
			mean[f] = make([]float64, d)
		}
		if kind == Kind {
			src := p.Sources[p.K[i]]
			n := len(src) / d
			z := make([]float64, d)
			for j := range n {
				for a := range d {
					z[a] = x[a] - src[j*d+a]
				}
				_, gz := featureValuesAndGradients(b, z)
				for f := range nf {
					for a := range d {
						mean[f][a] += gz[f][a] / float64(n)
					}
				}
			}
		}
		s := math.Sqrt(p.W[i]) * p.Tau[i]
		for a := range d {
			row := make([]float64, cols)
			for f := range nf {
				row[f] = s * gx[f][a]
				if kind == Kind {
					row[nf+f] = s * mean[f][a]
				}
			}
			if kind == Kind {
				row[2*nf] = s * p.Score[i*d+a]
			}
			rows = append(rows, row...)
			rhs = append(rhs, math.Sqrt(p.W[i])*(p.Y[i*d+a]-x[a]))
		}
	}
	return mat.NewDense(len(rhs), cols, rows), mat.NewVecDense(len(rhs), rhs)
}

// TestFitLinearNormalEquations compares Fit with (λI + AᵀA)θ = −Aᵀb
// built from the full design matrix. The d = 1 problem has 600 pairs, so the
// fit folds several chunks of pairs together.
func TestFitLinearNormalEquations(t *testing.T) {
	const lambda = 0.01
	rng := rand.New(rand.NewPCG(5, 6))
	problems := []struct {
		d        int
		popSizes []int
	}{{1, []int{250, 200, 150}}, {2, []int{12, 9, 17}}}
	for _, pr := range problems {
		p := randomLinearPairs(rng, pr.d, pr.popSizes)
		for _, kind := range []string{Kind, PotentialKind} {
			m, err := Fit(kind, p, lambda)
			if err != nil {
				t.Fatal(err)
			}
			a, b := bruteForceDesign(kind, p)
			_, cols := a.Dims()
			var normal mat.Dense
			normal.Mul(a.T(), a)
			for i := range cols {
				normal.Set(i, i, normal.At(i, i)+lambda)
			}
			var rhs, want mat.VecDense
			rhs.MulVec(a.T(), b)
			rhs.ScaleVec(-1, &rhs)
			if err := want.SolveVec(&normal, &rhs); err != nil {
				t.Fatal(err)
			}
			got := mat.NewVecDense(cols, m.Theta())
			// Backward error: θ_fit must satisfy the brute-force equations
			// to rounding, whatever their conditioning.
			var residual mat.VecDense
			residual.MulVec(&normal, got)
			residual.SubVec(&residual, &rhs)
			scale := mat.Norm(&normal, 2)*mat.Norm(got, 2) + mat.Norm(&rhs, 2)
			if r := mat.Norm(&residual, 2) / scale; r > 1e-12 {
				t.Errorf("d=%d %s: relative residual of the normal equations %.3g", pr.d, kind, r)
			}
			var diff mat.VecDense
			diff.SubVec(got, &want)
			rel := mat.Norm(&diff, 2) / mat.Norm(&want, 2)
			t.Logf("d=%d %s: %d parameters, relative θ difference %.2g", pr.d, kind, cols, rel)
			if rel > 1e-6 {
				t.Errorf("d=%d %s: θ differs from the brute-force solve by %.3g (relative)", pr.d, kind, rel)
			}
		}
	}
}

// TestLinearDesignRows compares the design rows the fit builds (interaction
// block by matrix products) with the brute-force rows in d = 3 and 4, where the
// full solve would be slow but the row-wise products span several coordinates.
func TestLinearDesignRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for d, popSizes := range map[int][]int{3: {6, 4}, 4: {3, 2}} {
		p := randomLinearPairs(rng, d, popSizes)
		m, err := newModel(Kind, d)
		if err != nil {
			t.Fatal(err)
		}
		pairs, cols := len(p.W), m.paramCount()
		a, b := make([]float64, pairs*d*cols), make([]float64, pairs*d)
		interactions := []*linearInteraction{newLinearInteraction(m.basis, slices.Max(popSizes))}
		m.designRows(p, 0, pairs, a, b, interactions)
		wantA, wantB := bruteForceDesign(Kind, p)
		for r := range pairs * d {
			rowMax := 0.0
			for c := range cols {
				rowMax = max(rowMax, math.Abs(wantA.At(r, c)))
			}
			for c := range cols {
				if got, want := a[r*cols+c], wantA.At(r, c); math.Abs(got-want) > 1e-12*rowMax {
					t.Fatalf("d=%d: design row %d column %d = %.15g, want %.15g", d, r, c, got, want)
				}
			}
			if b[r] != wantB.AtVec(r) {
				t.Errorf("d=%d: b[%d] = %g, want %g", d, r, b[r], wantB.AtVec(r))
			}
		}
	}
}

// TestFitLinearDeterministic: the fit must not depend on the number of cores.
func TestFitLinearDeterministic(t *testing.T) {
	p := randomLinearPairs(rand.New(rand.NewPCG(7, 8)), 2, []int{40, 30})
	fit := func(procs int) []float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := Fit(Kind, p, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		return m.Theta()
	}
	if !slices.Equal(fit(1), fit(3)) {
		t.Error("θ differs between GOMAXPROCS 1 and 3")
	}
}

// TestFitLinearRecoversPotential fits pairs made by one explicit step
// y = x − τ∇V(x) of V = ½(v1² + v2²) + 0.1·v1⁴, which lies in the feature span
// at θ*. Since θ̂ minimises λ‖θ‖² + Σ w_i τ_i² ‖Y_i(θ − θ*)‖², comparing with
// θ = θ* gives Σ w_i τ_i² ‖drift̂(x_i) − ∇V(x_i)‖² ≤ λ‖θ*‖², i.e. a mean squared
// drift error over the training pairs of at most λ‖θ*‖²/Σ w_i τ_i²
// (0.01·0.51/2: RMS 0.05 against gradients of size ~1–7). The same bound with
// a factor 2 of slack is required at fresh points of the same distribution.
func TestFitLinearRecoversPotential(t *testing.T) {
	const d, n, lambda = 2, 300, DefaultRidge
	truth := func(v []float64) (g0, g1 float64) { return v[0] + 0.4*v[0]*v[0]*v[0], v[1] }
	thetaNorm2 := 0.5*0.5 + 0.5*0.5 + 0.1*0.1
	rng := rand.New(rand.NewPCG(9, 10))
	p := &models.Pairs{D: d}
	for k, tau := range []float64{1, 1} {
		src := zoo.Uniform(rng, n, d)
		for i := range src {
			src[i] *= 0.6 // [−2.4, 2.4]², well inside the bump grid
		}
		p.Sources = append(p.Sources, src)
		for i := range n {
			x := src[i*d : (i+1)*d]
			g0, g1 := truth(x)
			p.X = append(p.X, x...)
			p.Y = append(p.Y, x[0]-tau*g0, x[1]-tau*g1)
			p.Score = append(p.Score, 0, 0)
			p.W = append(p.W, 1.0/n)
			p.Tau = append(p.Tau, tau)
			p.K = append(p.K, k)
		}
	}
	bound := lambda * thetaNorm2 / 2 // Σ w τ² = 2 transitions × 1
	test := zoo.Uniform(rng, 500, d)
	for i := range test {
		test[i] *= 0.6
	}
	for _, kind := range []string{PotentialKind, Kind} {
		m, err := Fit(kind, p, lambda)
		if err != nil {
			t.Fatal(err)
		}
		// drift is ∇V̂(x) + mean_j ∇Û(x − x_j) over the source population.
		drift := func(x, src []float64) []float64 {
			g := make([]float64, len(x))
			m.Potential().Eval(x, d, nil, g)
			if u := m.Interaction(); u != nil {
				gu, z := make([]float64, d), make([]float64, d)
				for i := range len(x) / d {
					for j := range len(src) / d {
						for a := range d {
							z[a] = x[i*d+a] - src[j*d+a]
						}
						u.Eval(z, d, nil, gu)
						for a := range d {
							g[i*d+a] += gu[a] / float64(len(src)/d)
						}
					}
				}
			}
			return g
		}
		meanSquaredError := func(x, src []float64) float64 {
			g := drift(x, src)
			var sum float64
			for i := range len(x) / d {
				g0, g1 := truth(x[i*d : (i+1)*d])
				sum += (g[i*d]-g0)*(g[i*d]-g0) + (g[i*d+1]-g1)*(g[i*d+1]-g1)
			}
			return sum / float64(len(x)/d)
		}
		train := (meanSquaredError(p.Sources[0], p.Sources[0]) + meanSquaredError(p.Sources[1], p.Sources[1])) / 2
		fresh := meanSquaredError(test, p.Sources[0])
		t.Logf("%s: mean squared drift error %.3g on training pairs, %.3g at fresh points (bound %.3g), β = %g",
			kind, train, fresh, bound, m.Beta())
		if train > bound*(1+1e-9) {
			t.Errorf("%s: training drift error %.4g exceeds the ridge bound %.4g", kind, train, bound)
		}
		if fresh > 2*bound {
			t.Errorf("%s: drift error %.4g at fresh points exceeds %.4g", kind, fresh, 2*bound)
		}
	}
}

func TestLinearRefusesHighDimension(t *testing.T) {
	const want = "linear models support d ≤ 4 (the feature grid has 10^d bumps); got d = 5"
	_, errFit := Fit(Kind, &models.Pairs{D: 5, X: make([]float64, 5), Y: make([]float64, 5), W: []float64{1}}, 0.01)
	_, errNew := New(PotentialKind, 5, nil)
	for _, err := range []error{errFit, errNew} {
		if err == nil || err.Error() != want {
			t.Errorf("d = 5: error %v, want %q", err, want)
		}
	}
}

func TestLinearBadInput(t *testing.T) {
	good := func() *models.Pairs { return randomLinearPairs(rand.New(rand.NewPCG(11, 12)), 2, []int{5, 4}) }
	cases := []struct {
		name, kind string
		lambda     float64
		edit       func(p *models.Pairs)
		wantInErr  string
	}{
		{"unknown kind", "quadratic", 0.01, func(*models.Pairs) {}, `"quadratic"`},
		{"negative λ", Kind, -1, func(*models.Pairs) {}, "λ"},
		{"short Y", Kind, 0.01, func(p *models.Pairs) { p.Y = p.Y[1:] }, "Y has 17 values, expected 18"},
		{"missing score", Kind, 0.01, func(p *models.Pairs) { p.Score = nil }, "Score"},
		{"NaN target", Kind, 0.01, func(p *models.Pairs) { p.Y[3] = math.NaN() }, "Y[3]"},
		{"negative weight", PotentialKind, 0.01, func(p *models.Pairs) { p.W[2] = -1 }, "pair 2"},
		{"transition out of range", Kind, 0.01, func(p *models.Pairs) { p.K[1] = 2 }, "transition 2"},
		{"ragged source", Kind, 0.01, func(p *models.Pairs) { p.Sources[1] = p.Sources[1][1:] }, "transition 1"},
		{"no pairs", Kind, 0.01, func(p *models.Pairs) { *p = models.Pairs{D: 2} }, "no coupling pairs"},
	}
	for _, c := range cases {
		p := good()
		c.edit(p)
		_, err := Fit(c.kind, p, c.lambda)
		if err == nil || !strings.Contains(err.Error(), c.wantInErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.wantInErr)
		}
	}
	// Only the interaction reads the transitions' populations and the score.
	p := good()
	p.Sources, p.Score = nil, nil
	if _, err := Fit(PotentialKind, p, 0.01); err != nil {
		t.Errorf("linear-potential without sources or score: %v", err)
	}
}

// TestLinearParameters checks the layout of θ, Beta, and that New
// rebuilds the same energies from saved parameters.
func TestLinearParameters(t *testing.T) {
	const d = 2
	p := randomLinearPairs(rand.New(rand.NewPCG(13, 14)), d, []int{20, 15})
	x := zoo.Uniform(rand.New(rand.NewPCG(15, 16)), 10, d)
	nf := FeatureCount(d)
	for _, kind := range []string{Kind, PotentialKind} {
		m, err := Fit(kind, p, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind() != kind || m.Dim() != d {
			t.Errorf("Kind, Dim = %q, %d, want %q, %d", m.Kind(), m.Dim(), kind, d)
		}
		theta := m.Theta()
		offset := 0
		for _, block := range m.Layout() {
			if block.Offset != offset {
				t.Errorf("%s: block %s at offset %d, want %d", kind, block.Name, block.Offset, offset)
			}
			size := 1
			for _, s := range block.Shape {
				size *= s
			}
			offset += size
		}
		if offset != len(theta) {
			t.Errorf("%s: layout covers %d parameters, θ has %d", kind, offset, len(theta))
		}
		wantBeta := 0.0
		if kind == Kind {
			wantBeta = math.Abs(theta[2*nf])
			if m.Interaction() == nil {
				t.Errorf("%s: no interaction", kind)
			}
		} else if m.Interaction() != nil {
			t.Errorf("%s: has an interaction", kind)
		}
		if m.Beta() != wantBeta {
			t.Errorf("%s: Beta() = %g, want %g", kind, m.Beta(), wantBeta)
		}
		loaded, err := New(kind, d, theta)
		if err != nil {
			t.Fatal(err)
		}
		g1, g2 := make([]float64, len(x)), make([]float64, len(x))
		m.Potential().Eval(x, d, nil, g1)
		loaded.Potential().Eval(x, d, nil, g2)
		if !slices.Equal(g1, g2) || loaded.Beta() != m.Beta() {
			t.Errorf("%s: the model rebuilt from θ differs", kind)
		}
		if _, err := New(kind, d, theta[1:]); err == nil || !strings.Contains(err.Error(), "parameters") {
			t.Errorf("%s: θ one short: error %v", kind, err)
		}
	}
}
