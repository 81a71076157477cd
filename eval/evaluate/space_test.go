package evaluate

import (
	"math"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TestScoreInAnotherSpace: distances measured in a space are those between
// the mapped points: with the map x ↦ (3x₁, x₂, x₁ − x₂) into d = 3, each
// no-motion error equals W1 of the mapped snapshots, computed here
// directly; and a Space whose map is the identity changes nothing.
func TestScoreInAnotherSpace(t *testing.T) {
	set, truth := generated(t, "styblinski_tang", 0)
	lift := Space{Name: "input", D: 3, Map: func(x []float64, n int) []float64 {
		out := make([]float64, 0, 3*n)
		for i := range n {
			a, b := x[2*i], x[2*i+1]
			out = append(out, 3*a, b, a-b)
		}
		return out
	}}
	got, err := scoreIn(lift, NoMotion(set), set, "w1", nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	for k, tr := range got.Transitions {
		a, b := snaps[k].X, snaps[k+1].X
		want, _ := ot.W1(lift.Map(a, len(a)/2), lift.Map(b, len(b)/2), 3)
		plain, _ := ot.W1(a, b, 2)
		if tr.Error != want || math.Abs(want-plain) < 1e-3 {
			t.Fatalf("t=%v: error %v, want %v (the model space's is %v)", tr.From, tr.Error, want, plain)
		}
	}
	ident, _ := scoreIn(Space{Name: "input", D: 2, Map: func(x []float64, _ int) []float64 { return x }}, NoMotion(set), set, "w1", nil)
	model, _ := Score(NoMotion(set), set, "w1")
	if ident.Mean != model.Mean {
		t.Fatalf("identity space mean %v, model space %v", ident.Mean, model.Mean)
	}
	res, err := Evaluate(Subject{Model: truth, Options: DefaultPredictOptions()}, set, Evaluation{Metric: "w1", Space: lift})
	if err != nil || res.Space != "input" || res.Baselines["no_motion"].Mean != got.Mean || res.Mean != 0 {
		t.Fatalf("Evaluate in the lifted space: %+v, %v; want no motion %v and an exact oracle", res, err, got.Mean)
	}
}
