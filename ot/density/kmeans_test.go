package density

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fourClusters returns 4×50 points within ±0.1 of the corners of a square
// of side 100, and the corners.
func fourClusters(rng *rand.Rand) ([]float64, []float64) {
	corners := []float64{0, 0, 100, 0, 0, 100, 100, 100}
	x := make([]float64, 0, 400)
	for i := 0; i < 200; i++ {
		c := i % 4
		x = append(x, corners[2*c]+0.2*(rng.Float64()-0.5), corners[2*c+1]+0.2*(rng.Float64()-0.5))
	}
	return x, corners
}

// nearestCorner is the index of the corner nearest to p.
func nearestCorner(p, corners []float64) int {
	best, bestDist := 0, math.Inf(1)
	for c := 0; c < len(corners)/2; c++ {
		if dd := squaredDistance(p, corners[2*c:2*c+2]); dd < bestDist {
			best, bestDist = c, dd
		}
	}
	return best
}

// TestKMeansPlusPlusSeedsEveryCluster: with four tight, far-apart clusters
// the D² sampling puts one centre in each; the same seed gives the same
// centres.
func TestKMeansPlusPlusSeedsEveryCluster(t *testing.T) {
	x, corners := fourClusters(rand.New(rand.NewPCG(1, 1)))
	for seed := uint64(0); seed < 20; seed++ {
		centres := kmeansPlusPlus(x, 2, 4, rand.New(rand.NewPCG(seed, 0)))
		if len(centres) != 8 {
			t.Fatalf("seed %d: %d centres, want 4", seed, len(centres)/2)
		}
		seen := map[int]bool{}
		for c := 0; c < 4; c++ {
			seen[nearestCorner(centres[2*c:2*c+2], corners)] = true
		}
		if len(seen) != 4 {
			t.Fatalf("seed %d: centres %v cover %d clusters, want 4", seed, centres, len(seen))
		}
		again := kmeansPlusPlus(x, 2, 4, rand.New(rand.NewPCG(seed, 0)))
		for i := range centres {
			if centres[i] != again[i] {
				t.Fatalf("seed %d: centres %v, then %v", seed, centres, again)
			}
		}
	}
}

// TestKMeansPlusPlusDistinctPoints: with only three distinct values it
// returns three distinct centres however large k is.
func TestKMeansPlusPlusDistinctPoints(t *testing.T) {
	x := []float64{1, 1, 2, 2, 1, 1, 3, 3, 2, 2, 3, 3, 1, 1}
	centres := kmeansPlusPlus(x, 2, 10, rand.New(rand.NewPCG(3, 0)))
	if len(centres) != 6 {
		t.Fatalf("%d centres, want 3", len(centres)/2)
	}
	if centres[0] == centres[2] || centres[0] == centres[4] || centres[2] == centres[4] {
		t.Errorf("centres %v are not distinct", centres)
	}
}

// TestLloydEasyCase: from a start with one centre far from every point (an
// empty cluster, relocated to the farthest point) and two centres in one
// cluster, Lloyd still ends at the four cluster means, with every point
// labelled by its cluster.
func TestLloydEasyCase(t *testing.T) {
	x, corners := fourClusters(rand.New(rand.NewPCG(2, 2)))
	centres := []float64{0, 0, 0.05, 0.05, 100, 100, 1e4, 1e4}
	labels, iters := lloyd(x, 2, centres, 300, 1e-4, 2)
	if iters < 2 || iters > 10 {
		t.Errorf("%d iterations, want 2 to 10", iters)
	}
	clusterOf := map[int]int{}
	for i, l := range labels {
		c := nearestCorner(x[2*i:2*i+2], corners)
		if prev, ok := clusterOf[l]; ok && prev != c {
			t.Fatalf("label %d holds points of clusters %d and %d", l, prev, c)
		}
		clusterOf[l] = c
	}
	for c := 0; c < 4; c++ {
		mean := []float64{0, 0}
		count := 0
		for i, l := range labels {
			if l == c {
				mean[0] += x[2*i]
				mean[1] += x[2*i+1]
				count++
			}
		}
		mean[0] /= float64(count)
		mean[1] /= float64(count)
		if count != 50 || squaredDistance(mean, centres[2*c:2*c+2]) > 1e-20 {
			t.Errorf("cluster %d: %d points with mean %v, centre %v", c, count, mean, centres[2*c:2*c+2])
		}
	}
}
