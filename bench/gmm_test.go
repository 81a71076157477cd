package bench

import (
	"math"
	"testing"
)

// TestCompareMixtureSklearn fits the same data with density.FitMixture and
// scikit-learn: each mean log-likelihood per point must be within 1% of the
// other's. The clustered case has as many well-separated blobs as components,
// so both land on the same optimum; on uniform data local optima differ, and
// the Go fit must be no worse than scikit-learn's by more than 1%.
func TestCompareMixtureSklearn(t *testing.T) {
	if err := PeerAvailable("sklearn"); err != nil {
		t.Skip(err)
	}
	cases := []MixtureCase{
		{Data: "clustered", N: 2000, D: 3, K: 6, Clusters: 6, Seed: 3},
		{Data: "uniform", N: 2000, D: 3, K: 10, Seed: 4},
	}
	results, err := CompareMixture(cases, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		t.Log(r)
		rel := (r.GoLogLikelihood - r.SklearnLogLikelihood) / math.Abs(r.SklearnLogLikelihood)
		if r.Case.Data == "clustered" && math.Abs(rel) > 0.01 {
			t.Errorf("%s: log-likelihood go %g, sklearn %g: differ by %.2f%%", r.Case.Name(), r.GoLogLikelihood, r.SklearnLogLikelihood, 100*rel)
		}
		if rel < -0.01 {
			t.Errorf("%s: log-likelihood go %g is worse than sklearn %g by %.2f%%", r.Case.Name(), r.GoLogLikelihood, r.SklearnLogLikelihood, -100*rel)
		}
	}
}

// BenchmarkCompareMixture prints the side-by-side table of the default cases
// (go test -run '^$' -bench CompareMixture -benchtime 1x ./bench/).
func BenchmarkCompareMixture(b *testing.B) {
	if err := PeerAvailable("sklearn"); err != nil {
		b.Skip(err)
	}
	for range b.N {
		results, err := CompareMixture(DefaultMixtureCases(), 7)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			b.Log(r)
		}
	}
}
