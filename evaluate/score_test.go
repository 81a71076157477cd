package evaluate

import (
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
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
