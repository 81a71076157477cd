package density

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFitMixture fits K = 10 components to 4000 uniform points in R^5
// (the docs/architecture.md §7 case; the side-by-side run with scikit-learn is
// bench.CompareMixture).
func BenchmarkFitMixture(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 4000*5)
	for i := range x {
		x[i] = -4 + 8*rng.Float64()
	}
	var info FitInfo
	for range b.N {
		var err error
		if _, info, err = FitMixture(x, 5, MixtureOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(info.Iterations), "em-iter")
	b.ReportMetric(float64(info.KMeansIterations), "kmeans-iter")
}
