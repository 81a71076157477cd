package cells

import (
	"math"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// TestNormalizeExactValues: each cell is scaled to the median total of
// the cells with counts (scanpy's normalize_total default), then log1p; a
// cell without counts stays 0; the PCA after it sees the normalised values.
func TestNormalizeExactValues(t *testing.T) {
	set := &snapshot.Set{D: 2, X: []float64{1, 3, 2, 2, 0, 0, 5, 5}, T: []float64{0, 0, 1, 1}}
	tr, err := Fit(set, Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	// totals 4, 4, 0, 10: the median of 4, 4, 10 is 4.
	if tr.Normalize == nil || tr.Normalize.TargetSum != 4 {
		t.Fatalf("target sum %+v, want 4", tr.Normalize)
	}
	y, err := tr.Apply(set)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{math.Log1p(1), math.Log1p(3), math.Log1p(2), math.Log1p(2), 0, 0, math.Log1p(2), math.Log1p(2)}
	for i := range want {
		if y.X[i] != want[i] {
			t.Fatalf("value %d = %v, want %v", i, y.X[i], want[i])
		}
	}
	if got := tr.Options().String(); got != "--normalize" {
		t.Errorf("options %q", got)
	}
	// The PCA of normalised cells: the direction of the normalised values.
	pca, err := Fit(set, Options{Normalize: true, PCA: 1})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Fit(y, Options{PCA: 1})
	if err != nil {
		t.Fatal(err)
	}
	for j, w := range direct.PCA.Components[0] {
		if math.Abs(pca.PCA.Components[0][j]-w) > 1e-12 {
			t.Fatalf("PCA after --normalize has component %v, want that of the normalised cells %v", pca.PCA.Components[0], direct.PCA.Components[0])
		}
	}
	// Stored and read back with the model, it gives the same numbers.
	meta, err := pca.RecordIn(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromMeta(meta)
	if err != nil || !Equal(back, pca) || back.Exact() {
		t.Fatalf("round trip: %+v (%v), exact %v", back, err, back.Exact())
	}
}

// TestNormalizeRefusesEmbeddings: negative values are not counts.
func TestNormalizeRefusesEmbeddings(t *testing.T) {
	set := &snapshot.Set{D: 2, X: []float64{1, 3, 2, -0.5}, T: []float64{0, 1}}
	_, err := Fit(set, Options{Normalize: true})
	if err == nil || !strings.Contains(err.Error(), "--normalize: row 1, column 2 holds -0.5") {
		t.Fatalf("err = %v", err)
	}
	bad := &Transform{InputDim: 2, Normalize: &Normalize{TargetSum: 0}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "target_sum") {
		t.Fatalf("a zero target sum: %v", err)
	}
}
