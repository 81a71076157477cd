package evaluate

import (
	"math"
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

func generated(t *testing.T, potential string, beta float64) (*snapshot.Set, *models.Truth) {
	t.Helper()
	v, err := zoo.Get(potential)
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate.Run(simulate.Config{Potential: v, Beta: beta, Dim: 2, Particles: 200, Steps: 3, DT: 0.01, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	xs := res.X
	return snapshot.FromTrajectories(xs, 2), &models.Truth{D: 2, V: v, TrueBeta: beta, DT: 0.01}
}

// TestOracleIsExact: without noise the true energy in model units predicts
// every generated snapshot exactly, so its W1 is 0, and no motion is not.
func TestOracleIsExact(t *testing.T) {
	set, truth := generated(t, "styblinski_tang", 0)
	preds, err := Predict(truth, set, DefaultPredictOptions())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Score(preds, set, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Transitions) != 3 || rep.Mean != 0 || rep.Std != 0 {
		t.Fatalf("oracle report %+v, want three zero errors", rep)
	}
	still, err := Score(NoMotion(set), set, "w1")
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	var mean float64
	errs := make([]float64, 3)
	for k := range errs {
		errs[k], _ = ot.W1(snaps[k].X, snaps[k+1].X, 2)
		mean += errs[k] / 3
	}
	var std float64
	for _, e := range errs {
		std += (e - mean) * (e - mean) / 3
	}
	if math.Abs(still.Mean-mean) > 1e-15 || math.Abs(still.Std-math.Sqrt(std)) > 1e-15 || still.Mean < 0.01 {
		t.Fatalf("no-motion report %+v, want mean %v std %v", still, mean, math.Sqrt(std))
	}
	if _, err := Score(preds, set, "w3"); err == nil {
		t.Fatal("unknown metric accepted")
	}
}

// bowl is V(x) = ½ a‖x‖², whose implicit step solves x′ = x/(1 + τa).
type bowl struct{ a float64 }

func (bowl) Dim() int { return 0 }
func (b bowl) Eval(x []float64, d int, val, grad []float64) {
	for i := range grad {
		grad[i] = b.a * x[i]
	}
}

type bowlModel struct{ bowl }

func (bowlModel) Dim() int                            { return 1 }
func (m bowlModel) PotentialAt(float64) models.Energy { return m.bowl }
func (bowlModel) Interaction() models.Energy          { return nil }
func (bowlModel) Beta() float64                       { return 0 }

func TestImplicitSolvesTheStep(t *testing.T) {
	set := &snapshot.Set{D: 1, X: []float64{-2, 0.5, 3, 1, 1, 1}, T: []float64{0, 0, 0, 2, 2, 2}}
	opts := DefaultPredictOptions()
	opts.Scheme, opts.MeanInterval = "implicit", 2 // τ = 1
	preds, err := Predict(bowlModel{bowl{0.3}}, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range []float64{-2, 0.5, 3} {
		if want := x / 1.3; math.Abs(preds[0].X[i]-want) > 1e-7 {
			t.Fatalf("implicit x′ = %v, want %v", preds[0].X[i], want)
		}
	}
	if len(preds[0].Unconverged) != 0 {
		t.Fatalf("%d particles did not converge", len(preds[0].Unconverged))
	}
	// A stiff bowl (τa = 3 > 1), where fixed-point iteration diverges: the
	// Newton steps still solve x′ = x/(1 + τa).
	preds, _ = Predict(bowlModel{bowl{3}}, set, opts)
	for i, x := range []float64{-2, 0.5, 3} {
		if want := x / 4; math.Abs(preds[0].X[i]-want) > 1e-7 || len(preds[0].Unconverged) != 0 {
			t.Fatalf("stiff implicit x′ = %v, want %v (%v unconverged)", preds[0].X[i], want, preds[0].Unconverged)
		}
	}
	// A cubic potential, ∇V = z³: z + z³ = x, solved; and with one Newton
	// step only, every moving particle is reported unconverged.
	preds, _ = Predict(cubicModel{}, set, opts)
	for i, x := range []float64{-2, 0.5, 3} {
		z := preds[0].X[i]
		if math.Abs(z+z*z*z-x) > 1e-8 {
			t.Fatalf("cubic implicit step: z = %v does not solve z + z³ = %v", z, x)
		}
	}
	opts.MaxIter = 1
	if preds, _ = Predict(cubicModel{}, set, opts); !slices.Equal(preds[0].Unconverged, []int{0, 1, 2}) {
		t.Fatalf("one Newton step: rows %v reported unconverged, want all 3", preds[0].Unconverged)
	}
}

// TestImplicitNeverTakesAWorseStep: where the implicit equation has no root
// near the start, r(z) = z² + 1 (∇V(z) = z² + 1 − z + x with τ = 1), the
// residual is smallest at z = x = 0, where J = 0: no step may leave it, and
// the particle is reported. Where J is nearly singular, J = 1e-13 at the
// start (r(z) = 1e-13·(z − x) + (z − x)² + 0.1), the Newton step is 10^12
// long: it must be refused, not taken after the line search gives up.
func TestImplicitNeverTakesAWorseStep(t *testing.T) {
	opts := DefaultPredictOptions()
	opts.Scheme = "implicit"
	for _, c := range []struct {
		name string
		v    funcEnergy
	}{
		{"no root", func(z, x float64) float64 { return z*z + 1 - z + x }},
		{"nearly singular", func(z, x float64) float64 { return 1e-13*(z-x) + (z-x)*(z-x) + 0.1 - z + x }},
	} {
		set := &snapshot.Set{D: 1, X: []float64{0, 1}, T: []float64{0, 1}}
		preds, err := Predict(funcModel{c.v, set.X[0]}, set, opts)
		if err != nil {
			t.Fatal(err)
		}
		x, z := set.X[0], preds[0].X[0]
		r0 := math.Abs(c.v(x, x) + x - x) // r(x) = τ∇V(x)
		r := math.Abs(z - x + c.v(z, x))
		if !(r <= r0) || math.Abs(z-x) > 1 {
			t.Errorf("%s: the step went from x = %v to z = %v, residual %v → %v", c.name, x, z, r0, r)
		}
		if !slices.Equal(preds[0].Unconverged, []int{0}) {
			t.Errorf("%s: unconverged rows %v, want [0]", c.name, preds[0].Unconverged)
		}
	}
}

// funcEnergy is ∇V(z) of a 1-D potential given the step's start x.
type funcEnergy func(z, x float64) float64

// funcModel is the 1-D model whose ∇V is v(·, x0).
type funcModel struct {
	v  funcEnergy
	x0 float64
}

func (funcModel) Dim() int                            { return 1 }
func (m funcModel) PotentialAt(float64) models.Energy { return m }
func (funcModel) Interaction() models.Energy          { return nil }
func (funcModel) Beta() float64                       { return 0 }
func (m funcModel) Eval(x []float64, d int, val, grad []float64) {
	for i := range grad {
		grad[i] = m.v(x[i], m.x0)
	}
}

// cubicModel has V(z) = z⁴/4 in d = 1.
type cubicModel struct{ bowlModel }

func (cubicModel) PotentialAt(float64) models.Energy { return cubic{} }

type cubic struct{ bowl }

func (cubic) Eval(x []float64, d int, val, grad []float64) {
	for i := range grad {
		grad[i] = x[i] * x[i] * x[i]
	}
}

// TestNoiseVariance: with V = 0 the increments are N(0, 2τ|β|); a negative
// learned β diffuses like |β|.
func TestNoiseVariance(t *testing.T) {
	set, _ := generated(t, "flat", 0)
	truth := &models.Truth{D: 2, V: bowl{0}, TrueBeta: -5, DT: 0.01} // |β·dt| = 0.05
	preds, err := Predict(truth, set, DefaultPredictOptions())
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	var s2 float64
	var n int
	for k, p := range preds {
		for i := range p.X {
			inc := p.X[i] - snaps[k].X[i]
			s2 += inc * inc
			n++
		}
	}
	// 1200 increments: the variance estimate has relative error √(2/1200) ≈ 4%.
	if v := s2 / float64(n); math.Abs(v/0.1-1) > 0.15 {
		t.Fatalf("increment variance %v, want 2·0.05 = 0.1", v)
	}
}

func TestPredictRejects(t *testing.T) {
	set, truth := generated(t, "flat", 0)
	opts := DefaultPredictOptions()
	opts.Scheme = "sideways"
	if _, err := Predict(truth, set, opts); err == nil {
		t.Fatal("unknown scheme accepted")
	}
	if _, err := Predict(bowlModel{}, set, DefaultPredictOptions()); err == nil {
		t.Fatal("dimension mismatch accepted")
	}
}

// TestSolveRefusesNearlySingular: a pivot of 1e-14 against entries of 1 is
// rounding, not information, so the system counts as singular (the Newton
// step falls back to the residual); a well-posed system is solved.
func TestSolveRefusesNearlySingular(t *testing.T) {
	a, b := []float64{1, 1, 1, 1 + 1e-14}, []float64{1, 2}
	if solveInPlace(a, b, 2) {
		t.Fatalf("solved a nearly singular system: x = %v", b)
	}
	a, b = []float64{2, 1, 1, 3}, []float64{3, 5}
	if !solveInPlace(a, b, 2) || math.Abs(b[0]-0.8) > 1e-15 || math.Abs(b[1]-1.4) > 1e-15 {
		t.Fatalf("2x + y = 3, x + 3y = 5: got %v, want [0.8 1.4]", b)
	}
}
