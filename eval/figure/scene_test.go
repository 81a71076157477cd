package figure

import (
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// TestObservedAndFrame: every snapshot is projected in time order, and the
// frame holds the observed cells and every panel's predictions, 5% wider.
func TestObservedAndFrame(t *testing.T) {
	set := &snapshot.Set{D: 3, X: []float64{0, 0, 9, 10, 0, 9, 0, 0, 9}, T: []float64{1, 1, 0}}
	plane := CoordinatePlane(3, []float64{0, 0, 9})
	obs := Observed(set, plane)
	if len(obs) != 2 || obs[0].Time != 0 || obs[1].Time != 1 || !slices.Equal(obs[1].XY, []float64{0, 0, 10, 0}) {
		t.Fatalf("observed %+v", obs)
	}
	if Observed(nil, plane) != nil {
		t.Fatal("points observed without data")
	}
	f := Figure{Observed: obs, Panels: []Panel{{}, {Predicted: []Points{{Time: 1, XY: []float64{0, -20}}}}}}
	if got, want := f.Frame(), (Box{-0.5 - 1e-9, 10.5 + 1e-9, -21 - 1e-9, 1 + 1e-9}); got != want {
		t.Fatalf("frame %+v, want %+v", got, want)
	}
}
