package cells

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// BenchmarkPCA times both decompositions on the same cells, so their ratio
// can be read side by side (go test -bench PCA ./cells/): the choice
// useExact makes should be the faster one.
func BenchmarkPCA(b *testing.B) {
	for _, sz := range []struct{ n, c, k int }{{100000, 50, 5}, {20000, 200, 5}, {20000, 1000, 50}} {
		set := lowRank(sz.n, sz.c, []float64{5, 4, 3, 2, 1, 0.5, 0.3}, 0.1, 1)
		x := mat.NewDense(sz.n, sz.c, set.X)
		mean := make([]float64, sz.c)
		b.Run(fmt.Sprintf("n%d_c%d_k%d/exact", sz.n, sz.c, sz.k), func(b *testing.B) {
			for range b.N {
				a := mat.DenseCopyOf(x)
				centre(a, mean)
				if _, _, err := rightSingular(a); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n%d_c%d_k%d/randomized", sz.n, sz.c, sz.k), func(b *testing.B) {
			for range b.N {
				if _, _, err := randomizedRightSingular(x, mean, sz.k+oversample, powerIterations, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApply maps 20000 cells of 1000 columns on 50 components and
// z-scores them.
func BenchmarkApply(b *testing.B) {
	set := lowRank(20000, 1000, []float64{5, 4, 3, 2, 1}, 0.1, 1)
	t, err := Fit(set, Options{PCA: 50, Standardize: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		t.apply(set.X, set.Len())
	}
}
