package density

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDataMomentsSymmetric: the data's covariance is symmetric bit for bit
// and equal to the two-pass sum Σ (x − x̄)(x − x̄)ᵀ/n + reg·I. Summing both
// triangles separately made entries near 0 differ by more than NewMixture
// accepts on 10^5 points in d = 50 (preprocess failed on such data).
func TestDataMomentsSymmetric(t *testing.T) {
	const n, d, reg = 3000, 40, 1e-6
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, n*d)
	for i := range x {
		x[i] = rng.NormFloat64()*3 + 100 // far from 0: the centred products cancel
	}
	mean, cov := dataMoments(x, d, reg)
	for j := range d {
		for k := range d {
			if cov[j*d+k] != cov[k*d+j] {
				t.Fatalf("cov[%d][%d] = %v, cov[%d][%d] = %v", j, k, cov[j*d+k], k, j, cov[k*d+j])
			}
			var want float64
			for i := range n {
				want += (x[i*d+j] - mean[j]) * (x[i*d+k] - mean[k])
			}
			want /= n
			if j == k {
				want += reg
			}
			if math.Abs(cov[j*d+k]-want) > 1e-12*max(1, math.Abs(want)) {
				t.Fatalf("cov[%d][%d] = %v, two-pass sum %v", j, k, cov[j*d+k], want)
			}
		}
	}
	if _, err := NewMixture([]float64{1}, mean, cov, d); err != nil {
		t.Fatal(err)
	}
}
