package evaluate

import (
	"math"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// TestScoreNamesTheTransition: a prediction that cannot be compared with
// its observed snapshot (here 1e200 away, where the squared distances
// overflow) is reported with its transition, not as a bare ot error.
func TestScoreNamesTheTransition(t *testing.T) {
	set := &snapshot.Set{D: 1, X: []float64{0, 1, 0, 1}, T: []float64{0, 0, 1, 1}}
	preds := []Prediction{{From: 0, To: 1, X: []float64{1e200, 2e200}}}
	_, err := Score(preds, set, "w1")
	if err == nil || !strings.Contains(err.Error(), "t=0 → t=1") {
		t.Fatalf("Score: %v, want an error naming t=0 → t=1", err)
	}
}

// TestSubsample: at most the given number of distinct rows, in their order,
// the same rows for any cloud of the same size; small clouds untouched.
func TestSubsample(t *testing.T) {
	x := make([]float64, 2*100)
	for i := range x {
		x[i] = float64(i)
	}
	if s := Subsample(x, 2, 100); &s[0] != &x[0] || len(s) != len(x) {
		t.Fatal("a cloud of at most `most` points should come back as it is")
	}
	s := Subsample(x, 2, 30)
	if len(s) != 60 {
		t.Fatalf("%d values, want 30 rows of 2", len(s))
	}
	for r := 0; r < 30; r++ {
		if s[2*r+1] != s[2*r]+1 || int(s[2*r])%2 != 0 {
			t.Fatalf("row %d = %v: not a row of x", r, s[2*r:2*r+2])
		}
		if r > 0 && s[2*r] <= s[2*r-2] {
			t.Fatalf("rows not distinct and in order: %v after %v", s[2*r], s[2*r-2])
		}
	}
	y := make([]float64, len(x))
	for i := range y {
		y[i] = -x[i]
	}
	sy := Subsample(y, 2, 30)
	for i := range s {
		if sy[i] != -s[i] {
			t.Fatalf("another cloud of the same size got other rows: %v vs %v", sy[i], -s[i])
		}
	}
}

// TestScoreSubsamplesLargeSnapshots: above ExactMax points a side, W1 is
// taken between subsamples and the report says so. A prediction that is
// the observed snapshot shifted by 1 (in 1-D) stays exactly 1 away,
// because both sides are subsampled at the same rows.
func TestScoreSubsamplesLargeSnapshots(t *testing.T) {
	n := ExactMax + 7
	set := &snapshot.Set{D: 1}
	pred := Prediction{From: 0, To: 1, X: make([]float64, n)}
	for i := range n {
		x := float64((i*7919)%n) / float64(n) // a permutation of a grid
		set.X = append(set.X, x, x)
		set.T = append(set.T, 0, 1)
		pred.X[i] = x + 1
	}
	var heard []int
	rep, err := ScoreProgress([]Prediction{pred}, set, "w1", func(done int) { heard = append(heard, done) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Subsample != ExactMax {
		t.Fatalf("report says subsample %d, want %d", rep.Subsample, ExactMax)
	}
	if e := rep.Transitions[0].Error; math.Abs(e-1) > 1e-12 {
		t.Fatalf("W1 of a shift by 1 on paired subsamples = %v, want 1", e)
	}
	if len(heard) != 1 || heard[0] != 1 {
		t.Fatalf("progress heard %v, want [1]", heard)
	}
	small := &snapshot.Set{D: 1, X: []float64{0, 1, 0, 1}, T: []float64{0, 0, 1, 1}}
	rep, err = Score([]Prediction{{From: 0, To: 1, X: []float64{0.5, 1.5}}}, small, "w1")
	if err != nil || rep.Subsample != 0 || math.Abs(rep.Mean-0.5) > 1e-15 {
		t.Fatalf("small snapshots: %+v, %v; want exact W1 0.5 and no subsample", rep, err)
	}
}
