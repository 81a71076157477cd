package evaluate

import (
	"math"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
	"github.com/jkonet-gpu/jkonet-gpu/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/zoo"
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
	if preds[0].Unconverged != 0 {
		t.Fatalf("%d particles did not converge", preds[0].Unconverged)
	}
	// A stiff bowl (τa = 3 > 1), where fixed-point iteration diverges: the
	// Newton steps still solve x′ = x/(1 + τa).
	preds, _ = Predict(bowlModel{bowl{3}}, set, opts)
	for i, x := range []float64{-2, 0.5, 3} {
		if want := x / 4; math.Abs(preds[0].X[i]-want) > 1e-7 || preds[0].Unconverged != 0 {
			t.Fatalf("stiff implicit x′ = %v, want %v (%d unconverged)", preds[0].X[i], want, preds[0].Unconverged)
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
	if preds, _ = Predict(cubicModel{}, set, opts); preds[0].Unconverged != 3 {
		t.Fatalf("one Newton step: %d of 3 particles reported unconverged", preds[0].Unconverged)
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
