// Package evaluate predicts snapshots with a model and scores predictions by
// their Wasserstein distance to the observed snapshots (docs/design.md
// §6 and §7).
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// PredictOptions configures one-step prediction.
type PredictOptions struct {
	// Scheme is "explicit" or "implicit". DefaultPredictOptions says
	// explicit; the CLI picks per model (implicit for networks).
	Scheme string
	Seed   uint64
	// MeanInterval is the model's time unit: τ_k = (t_{k+1} − t_k)/MeanInterval;
	// TimeOrigin is its first training time, so the time input of a
	// time-dependent potential is (t − TimeOrigin)/MeanInterval.
	MeanInterval, TimeOrigin float64
	// Implicit scheme: a particle has converged when the residual of its
	// implicit equation is at most Tol in every coordinate; MaxIter caps the
	// Newton steps.
	Tol     float64
	MaxIter int
}

// DefaultPredictOptions: explicit, unit time step, implicit tolerance 1e-8
// with the reference's cap of 50 iterations.
func DefaultPredictOptions() PredictOptions {
	return PredictOptions{Scheme: "explicit", MeanInterval: 1, Tol: 1e-8, MaxIter: 50}
}

// Prediction is the model's one-step prediction from the observed snapshot at
// From to time To.
type Prediction struct {
	From, To float64
	X        []float64 // n×d predicted points, in the order of the source rows
	ID       []int64   // the source rows' ids, nil if the data have none
	// Unconverged lists the source rows whose implicit step did not
	// converge: the iteration hit MaxIter, or no step along the Newton (or
	// fixed-point) direction lowered the residual. They keep the best
	// iterate found.
	Unconverged []int
}

// Predict moves every observed snapshot but the last one step of τ_k:
//
//	explicit: x′ = x − τ(∇V(x) + mean_j ∇U(x − x_j)) + √(2τ|β|)·ξ
//	implicit: x′ = x − τ(∇V(x′) + mean_j ∇U(x − x_j)) + √(2τ|β|)·ξ,
//
// the implicit equation solved per particle by damped Newton steps (see
// solveImplicit; the interaction stays explicit; the mean runs over the
// observed snapshot, self included). V gets the target time. Noise comes from the PCG stream
// (seed, k).
func Predict(m models.Model, set *snapshot.Set, opts PredictOptions) ([]Prediction, error) {
	if set.D != m.Dim() {
		return nil, fmt.Errorf("the model is for d = %d but the data have d = %d", m.Dim(), set.D)
	}
	if opts.Scheme != "explicit" && opts.Scheme != "implicit" {
		return nil, fmt.Errorf("--scheme: expected explicit or implicit, got %q", opts.Scheme)
	}
	snaps := set.Snapshots()
	if len(snaps) < 2 {
		return nil, fmt.Errorf("need at least 2 snapshot times to predict one step, got %d", len(snaps))
	}
	d := set.D
	var preds []Prediction
	for k := 0; k+1 < len(snaps); k++ {
		src := snaps[k]
		tau := (snaps[k+1].Time - src.Time) / opts.MeanInterval
		v := m.PotentialAt((snaps[k+1].Time - opts.TimeOrigin) / opts.MeanInterval)
		n := src.Len()
		drift := make([]float64, n*d)
		simulate.NewDrifter(v, m.Interaction(), n, d, 0).Compute(src.X, drift)
		next := make([]float64, n*d)
		for i := range next {
			next[i] = src.X[i] - tau*drift[i]
		}
		p := Prediction{From: src.Time, To: snaps[k+1].Time, X: next, ID: src.ID}
		if opts.Scheme == "implicit" {
			p.Unconverged = solveImplicit(v, src.X, next, drift, tau, d, opts)
		}
		if beta := math.Abs(m.Beta()); beta > 0 {
			rng := rand.New(rand.NewPCG(opts.Seed, uint64(k)))
			scale := math.Sqrt(2 * tau * beta)
			for i := range next {
				next[i] += scale * rng.NormFloat64()
			}
		}
		preds = append(preds, p)
	}
	return preds, nil
}

// solveImplicit solves, for every particle, the implicit step
//
//	r(z) = z − x + τ(∇V(z) + I) = 0,
//
// where I = drift(x) − ∇V(x) is the interaction part, kept explicit, and
// writes z into next. r is the gradient of the proximal objective
// τV(z) + τ⟨I, z⟩ + ½‖z − x‖², so this is the JKO step of the potential.
// Plain fixed-point iteration converges only where τ‖∇²V‖ < 1, slowly near
// that bound and not at all for steep learned potentials, so we take damped
// Newton steps z ← z − α J⁻¹r with J = I + τ∇²V(z) from central differences
// of ∇V (2d gradient evaluations per step), halving α until ‖r‖ decreases;
// where J is singular or nearly so the direction is r itself. A particle
// whose residual no step lowers stops there. Iteration starts at z = x and
// is batched over the particles not yet converged (‖r‖∞ ≤ Tol). It returns
// the particles that did not converge (stopped, or still moving after
// MaxIter steps); each keeps the iterate of smallest residual it reached.
func solveImplicit(v models.Energy, x, next, drift []float64, tau float64, d int, opts PredictOptions) []int {
	n := len(x) / d
	grad := make([]float64, n*d)
	v.Eval(x, d, nil, grad)
	inter := make([]float64, n*d)
	for i := range inter {
		inter[i] = drift[i] - grad[i]
	}
	copy(next, x)
	s := newtonSolver{v: v, d: d, tau: tau, x: x, inter: inter}
	active := make([]int, n)
	for i := range active {
		active[i] = i
	}
	var stuck []int
	active, res := s.unconverged(active, s.residuals(next, active), nil, opts.Tol)
	for it := 0; it < opts.MaxIter && len(active) > 0; it++ {
		steps := s.newtonSteps(next, active, res)
		moved := make([]bool, len(active))
		for a, i := range active {
			moved[a] = s.lineSearch(next[i*d:(i+1)*d], i, res[a*d:(a+1)*d], steps[a*d:(a+1)*d])
			if !moved[a] {
				stuck = append(stuck, i)
			}
		}
		active, res = s.unconverged(active, res, moved, opts.Tol)
	}
	return slices.Sorted(slices.Values(append(stuck, active...)))
}

// unconverged keeps the particles of idx whose residual exceeds tol and,
// when moved is not nil, whose last line search moved them.
func (s *newtonSolver) unconverged(idx []int, res []float64, moved []bool, tol float64) ([]int, []float64) {
	var still []int
	var stillRes []float64
	for a, i := range idx {
		if r := res[a*s.d : (a+1)*s.d]; maxAbs(r) > tol && (moved == nil || moved[a]) {
			still = append(still, i)
			stillRes = append(stillRes, r...)
		}
	}
	return still, stillRes
}

// newtonSolver holds one implicit step's data.
type newtonSolver struct {
	v          models.Energy
	d          int
	tau        float64
	x, inter   []float64
	one, oneGr []float64 // scratch for single-particle residuals
}

// residuals returns r(z_i) for the particles i of idx (len(idx)×d).
func (s *newtonSolver) residuals(z []float64, idx []int) []float64 {
	d := s.d
	pts := make([]float64, len(idx)*d)
	for a, i := range idx {
		copy(pts[a*d:(a+1)*d], z[i*d:(i+1)*d])
	}
	g := make([]float64, len(pts))
	s.v.Eval(pts, d, nil, g)
	for a, i := range idx {
		for c := 0; c < d; c++ {
			g[a*d+c] = pts[a*d+c] - s.x[i*d+c] + s.tau*(g[a*d+c]+s.inter[i*d+c])
		}
	}
	return g
}

// newtonSteps returns J⁻¹r for every particle of idx, J = I + τ∇²V(z_i) by
// central differences of ∇V with step h = 1e-5·(1 + |z|); where J is
// singular or nearly so (solveInPlace) the step is r itself (a fixed-point
// step).
func (s *newtonSolver) newtonSteps(z []float64, idx []int, res []float64) []float64 {
	d := s.d
	pts := make([]float64, 0, 2*d*len(idx)*d)
	for _, i := range idx {
		zi := z[i*d : (i+1)*d]
		for c := 0; c < d; c++ {
			for _, sign := range []float64{1, -1} {
				p := append([]float64(nil), zi...)
				p[c] += sign * 1e-5 * (1 + math.Abs(zi[c]))
				pts = append(pts, p...)
			}
		}
	}
	g := make([]float64, len(pts))
	s.v.Eval(pts, d, nil, g)
	steps := make([]float64, len(idx)*d)
	jac := make([]float64, d*d)
	for a, i := range idx {
		zi := z[i*d : (i+1)*d]
		for c := 0; c < d; c++ { // column c: ∂r/∂z_c
			plus, minus := g[((a*d+c)*2)*d:], g[((a*d+c)*2+1)*d:]
			h := 2e-5 * (1 + math.Abs(zi[c]))
			for row := 0; row < d; row++ {
				jac[row*d+c] = s.tau * (plus[row] - minus[row]) / h
			}
			jac[c*d+c]++
		}
		step := steps[a*d : (a+1)*d]
		copy(step, res[a*d:(a+1)*d])
		if !solveInPlace(jac, step, d) {
			copy(step, res[a*d:(a+1)*d])
		}
	}
	return steps
}

// lineSearch moves particle i from z along −step, halving the step (at most
// 20 times) until ‖r‖ decreases, and updates r to the new residual. When no
// trial lowers ‖r‖ (or the residual is not finite), z and r stay as they
// were and it returns false.
func (s *newtonSolver) lineSearch(z []float64, i int, r, step []float64) bool {
	d := s.d
	if s.one == nil {
		s.one, s.oneGr = make([]float64, d), make([]float64, d)
	}
	before := norm2(r)
	for alpha, k := 1.0, 0; k < 20; alpha, k = alpha/2, k+1 {
		for c := range s.one {
			s.one[c] = z[c] - alpha*step[c]
		}
		s.v.Eval(s.one, d, nil, s.oneGr)
		for c := range s.oneGr {
			s.oneGr[c] = s.one[c] - s.x[i*d+c] + s.tau*(s.oneGr[c]+s.inter[i*d+c])
		}
		if norm2(s.oneGr) < before {
			copy(z, s.one)
			copy(r, s.oneGr)
			return true
		}
	}
	return false
}

// singularPivot is the smallest pivot, relative to the largest entry of the
// matrix, that solveInPlace accepts: below it a Newton step would be
// dominated by the rounding of the finite-difference Jacobian.
const singularPivot = 1e-10

// solveInPlace solves the d×d system a·x = b by Gaussian elimination with
// partial pivoting, overwriting b with x (and a); false if a is singular or
// nearly so (a pivot below singularPivot times a's largest entry).
func solveInPlace(a, b []float64, d int) bool {
	tiny := singularPivot * maxAbs(a)
	for c := 0; c < d; c++ {
		p := c
		for r := c + 1; r < d; r++ {
			if math.Abs(a[r*d+c]) > math.Abs(a[p*d+c]) {
				p = r
			}
		}
		if !(math.Abs(a[p*d+c]) > tiny) { // also false for NaN
			return false
		}
		for k := 0; k < d; k++ {
			a[c*d+k], a[p*d+k] = a[p*d+k], a[c*d+k]
		}
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < d; r++ {
			f := a[r*d+c] / a[c*d+c]
			for k := c; k < d; k++ {
				a[r*d+k] -= f * a[c*d+k]
			}
			b[r] -= f * b[c]
		}
	}
	for c := d - 1; c >= 0; c-- {
		for k := c + 1; k < d; k++ {
			b[c] -= a[c*d+k] * b[k]
		}
		b[c] /= a[c*d+c]
	}
	return true
}

func maxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

func norm2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return s
}

// NoMotion is the baseline prediction x′ = x.
func NoMotion(set *snapshot.Set) []Prediction {
	snaps := set.Snapshots()
	var preds []Prediction
	for k := 0; k+1 < len(snaps); k++ {
		preds = append(preds, Prediction{From: snaps[k].Time, To: snaps[k+1].Time, X: snaps[k].X, ID: snaps[k].ID})
	}
	return preds
}

// ToSet stacks predictions into a snapshot set (time label To).
func ToSet(preds []Prediction, d int) *snapshot.Set {
	s := &snapshot.Set{D: d}
	for _, p := range preds {
		s.X = append(s.X, p.X...)
		for range len(p.X) / d {
			s.T = append(s.T, p.To)
		}
		s.ID = append(s.ID, p.ID...)
	}
	if len(s.ID) != len(s.T) {
		s.ID = nil
	}
	return s
}
