package ot

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSpatialOrderKeepsClustersTogether: two far clusters per cloud, listed
// in shuffled order; with 2 blocks each block holds one cluster of both
// clouds, so no pair crosses between clusters, and the plan is the exact one
// (which never crosses either).
func TestSpatialOrderKeepsClustersTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// 40 points, 20 of them (at random rows) around (−10, 0), the others
	// around (10, 0).
	cloud := func() ([]float64, []bool) {
		x := make([]float64, 0, 80)
		left := make([]bool, 40)
		for i, r := range rng.Perm(40) {
			left[i] = r < 20
			cx := 10.0
			if left[i] {
				cx = -10
			}
			x = append(x, cx+rng.NormFloat64(), rng.NormFloat64())
		}
		return x, left
	}
	x, xLeft := cloud()
	y, yLeft := cloud()
	rowX, rowY, err := SpatialOrder(x, y, 2, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range [][]int{rowX, rowY} {
		sorted := slices.Sorted(slices.Values(rows))
		for k, r := range sorted {
			if r != k {
				t.Fatalf("order %v is not a permutation", rows)
			}
		}
	}
	for k := range 40 {
		if xLeft[rowX[k]] != (k < 20) || yLeft[rowY[k]] != (k < 20) {
			t.Fatalf("position %d: source %d (left %v), target %d (left %v); block 0 should be the left cluster of both",
				k, rowX[k], xLeft[rowX[k]], rowY[k], yLeft[rowY[k]])
		}
	}
	gather := func(z []float64, rows []int) []float64 {
		var out []float64
		for _, r := range rows {
			out = append(out, z[2*r:2*r+2]...)
		}
		return out
	}
	blocked, err := ExactBlocks(gather(x, rowX), gather(y, rowY), 2, SqEuclidean, 20)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := Exact(x, y, 2, SqEuclidean)
	if err != nil {
		t.Fatal(err)
	}
	if d := blocked.Cost - exact.Cost; d > 1e-12 || d < -1e-12 {
		t.Fatalf("spatial blocks cost %v, the exact plan %v", blocked.Cost, exact.Cost)
	}
}

// TestSpatialOrderUnevenSizes: with n ≠ m every block gets its own share of
// each cloud, and the cut is at each cloud's own quantile along the widest
// coordinate.
func TestSpatialOrderUnevenSizes(t *testing.T) {
	// 1-D, so the widest coordinate is the only one: sources 0..9, targets
	// 0..14 in reverse; 2 blocks of 5 + 7 and 5 + 8 (blockRanges).
	x := make([]float64, 10)
	for i := range x {
		x[i] = float64(i)
	}
	y := make([]float64, 15)
	for j := range y {
		y[j] = float64(14 - j)
	}
	rowX, rowY, err := SpatialOrder(x, y, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(rowX, want) {
		t.Fatalf("source order %v, want %v", rowX, want)
	}
	// Targets by increasing value: rows 14, 13, …, 0; the first 7 are the
	// 7 smallest.
	if want := []int{14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}; !slices.Equal(rowY, want) {
		t.Fatalf("target order %v, want %v", rowY, want)
	}
	if _, _, err := SpatialOrder(x, y, 1, -1); err == nil {
		t.Fatal("a negative block size was accepted")
	}
}
