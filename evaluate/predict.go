// Package evaluate predicts snapshots with a model and scores predictions by
// their Wasserstein distance to the observed snapshots (DESIGN.md §1,
// "Prediction" and "Evaluation").
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
)

// PredictOptions configures one-step prediction.
type PredictOptions struct {
	// Scheme is "explicit" (default) or "implicit".
	Scheme string
	Seed   uint64
	// MeanInterval is the model's time unit: τ_k = (t_{k+1} − t_k)/MeanInterval;
	// TimeOrigin is its first training time, so the time input of a
	// time-dependent potential is (t − TimeOrigin)/MeanInterval.
	MeanInterval, TimeOrigin float64
	// Implicit scheme: stop a particle's fixed-point iteration when its step
	// changes by at most Tol in every coordinate, after MaxIter at most.
	Tol     float64
	MaxIter int
}

// DefaultPredictOptions: explicit, unit time step, implicit tolerance 1e-8
// with the reference's 50 iterations as the cap.
func DefaultPredictOptions() PredictOptions {
	return PredictOptions{Scheme: "explicit", MeanInterval: 1, Tol: 1e-8, MaxIter: 50}
}

// Prediction is the model's one-step prediction from the observed snapshot at
// From to time To.
type Prediction struct {
	From, To float64
	X        []float64 // n×d predicted points, in the order of the source rows
	ID       []int64   // the source rows' ids, nil if the data have none
	// Unconverged counts particles whose implicit iteration hit MaxIter.
	Unconverged int
}

// Predict moves every observed snapshot but the last one step of τ_k:
//
//	explicit: x′ = x − τ(∇V(x) + mean_j ∇U(x − x_j)) + √(2τ|β|)·ξ
//	implicit: x′ = x − τ(∇V(x′) + mean_j ∇U(x − x_j)) + √(2τ|β|)·ξ,
//
// the implicit equation solved by fixed-point iteration per particle (the
// interaction stays explicit; the mean runs over the observed snapshot, self
// included). V gets the target time. Noise comes from the PCG stream
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

// solveImplicit iterates x′ ← x − τ(∇V(x′) + I) per particle, where
// I = drift(x) − ∇V(x) is the explicit interaction part, starting from the
// explicit step in next, and returns the number of particles that did not
// converge.
func solveImplicit(v models.Energy, x, next, drift []float64, tau float64, d int, opts PredictOptions) int {
	n := len(x) / d
	grad := make([]float64, n*d)
	v.Eval(x, d, nil, grad)
	inter := make([]float64, n*d)
	for i := range inter {
		inter[i] = drift[i] - grad[i]
	}
	unconverged := 0
	for i := 0; i < n; i++ {
		xi, yi, gi := x[i*d:(i+1)*d], next[i*d:(i+1)*d], grad[i*d:(i+1)*d]
		converged := false
		for it := 0; it < opts.MaxIter && !converged; it++ {
			v.Eval(yi, d, nil, gi)
			converged = true
			for a := range yi {
				y := xi[a] - tau*(gi[a]+inter[i*d+a])
				converged = converged && math.Abs(y-yi[a]) <= opts.Tol
				yi[a] = y
			}
		}
		if !converged {
			unconverged++
		}
	}
	return unconverged
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
