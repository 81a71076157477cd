package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSinkhornApproachesExact checks that the entropic plan's cost falls to
// the exact optimum as ε shrinks.
func TestSinkhornApproachesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x, y := uniformCloud(rng, 20, 2), uniformCloud(rng, 30, 2)
	p, err := Exact(x, y, 2, SqEuclidean)
	if err != nil {
		t.Fatal(err)
	}
	prev := math.Inf(1)
	for _, eps := range []float64{1, 0.3, 0.1, 0.03, 0.01} {
		r, err := Sinkhorn(x, y, 2, SinkhornOptions{Epsilon: eps, Tol: 1e-6, MaxIter: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Converged || r.MarginalError >= 1e-6 {
			t.Fatalf("ε=%v: converged %v after %d iterations, marginal error %v", eps, r.Converged, r.Iterations, r.MarginalError)
		}
		if r.TransportCost < p.Cost-1e-9 || r.TransportCost > prev {
			t.Fatalf("ε=%v: entropic cost %v, exact %v, previous ε %v", eps, r.TransportCost, p.Cost, prev)
		}
		prev = r.TransportCost
		checkRowMass(t, r, 20)
	}
	if prev > p.Cost*1.02 {
		t.Fatalf("at ε = 0.01·mean the entropic cost %v is still more than 2%% above the exact %v", prev, p.Cost)
	}
}

// checkRowMass checks the 99% filter: each source keeps the fewest targets
// holding at least RowMass of its row mass 1/n.
func checkRowMass(t *testing.T, r *SinkhornResult, n int) {
	t.Helper()
	byRow := make([][]float64, n)
	for _, q := range r.Plan.Pairs {
		byRow[q.I] = append(byRow[q.I], q.W)
	}
	for i, ws := range byRow {
		var held float64
		for _, w := range ws {
			held += w
		}
		mass := 1 / float64(n)
		if held < RowMass*mass*(1-1e-6) {
			t.Fatalf("row %d keeps %v of its mass %v", i, held, mass)
		}
		if least := slices.Min(ws); held-least >= RowMass*mass*(1+1e-6) {
			t.Fatalf("row %d: %v without its least pair %v still holds 99%%", i, held, least)
		}
	}
}

// TestSinkhornBlurredRows checks that at large ε a row spreads over several
// targets and the filter keeps more than one, and at small ε one.
func TestSinkhornBlurredRows(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	y := []float64{0, 1, 2, 3}
	for _, c := range []struct {
		eps  float64
		many bool
	}{{10, true}, {0.001, false}} {
		r, err := Sinkhorn(x, y, 1, SinkhornOptions{Epsilon: c.eps, Absolute: true, MaxIter: 100000, Tol: 1e-12})
		if err != nil {
			t.Fatal(err)
		}
		if c.many != (len(r.Plan.Pairs) > 4) {
			t.Fatalf("ε=%v: %d pairs kept", c.eps, len(r.Plan.Pairs))
		}
		checkRowMass(t, r, 4)
	}
}

// TestSinkhornTinyEpsilon needs the shifted log-sum-exp: at ε = 1e-4 the
// plain sums underflow.
func TestSinkhornTinyEpsilon(t *testing.T) {
	x := []float64{0, 0, 5, 5, 9, 1}
	y := []float64{5, 4, 9, 0, 0, 1}
	r, err := Sinkhorn(x, y, 2, SinkhornOptions{Epsilon: 1e-4, Absolute: true, MaxIter: 100})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Exact(x, y, 2, SqEuclidean)
	if !r.Converged || math.Abs(r.TransportCost-p.Cost) > 1e-6 || len(r.Plan.Pairs) != 3 || r.Epsilon != 1e-4 {
		t.Fatalf("cost %v (exact %v), %d pairs, converged %v, ε %v", r.TransportCost, p.Cost, len(r.Plan.Pairs), r.Converged, r.Epsilon)
	}
}

func TestSinkhornReportsNonConvergence(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x, y := uniformCloud(rng, 30, 2), uniformCloud(rng, 40, 2)
	r, err := Sinkhorn(x, y, 2, SinkhornOptions{Epsilon: 0.001, MaxIter: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Converged || r.Iterations != 3 || !(r.MarginalError > DefaultSinkhornTol) || math.IsInf(r.MarginalError, 0) {
		t.Fatalf("converged %v after %d iterations, marginal error %v", r.Converged, r.Iterations, r.MarginalError)
	}
}

func TestSinkhornRelativeEpsilon(t *testing.T) {
	x, y := []float64{0, 1}, []float64{0, 3} // costs 0, 9, 1, 4: mean 3.5
	r, err := Sinkhorn(x, y, 1, SinkhornOptions{Epsilon: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Epsilon-0.35) > 1e-15 {
		t.Fatalf("relative ε 0.1 gave %v, want 0.1·3.5", r.Epsilon)
	}
	if _, err := Sinkhorn(x, y, 1, SinkhornOptions{}); err == nil {
		t.Fatal("ε = 0 accepted")
	}
}

// TestSinkhornRecomputedRows checks that Sinkhorn gives the same plan when
// the cost matrix is over budget and its rows are recomputed in each pass.
func TestSinkhornRecomputedRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	x, y := uniformCloud(rng, 40, 5), uniformCloud(rng, 30, 5)
	dense := sinkhornSolve(newCostMatrix(x, y, 5, SqEuclidean, DenseBudget), 0.05, 1e-9, 10000)
	rows := sinkhornSolve(newCostMatrix(x, y, 5, SqEuclidean, 0), 0.05, 1e-9, 10000)
	if dense.TransportCost != rows.TransportCost || dense.Iterations != rows.Iterations || len(dense.Plan.Pairs) != len(rows.Plan.Pairs) {
		t.Fatalf("dense: cost %v, %d iterations, %d pairs; recomputed: %v, %d, %d", dense.TransportCost, dense.Iterations,
			len(dense.Plan.Pairs), rows.TransportCost, rows.Iterations, len(rows.Plan.Pairs))
	}
}
