package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// foldedBrute is FoldedFraction by definition: sort all other sources by
// distance, test the k nearest.
func foldedBrute(x, y []float64, d, k int, checked []int) float64 {
	n := len(x) / d
	folded := 0
	for _, i := range checked {
		others := make([]int, 0, n-1)
		for j := range n {
			if j != i {
				others = append(others, j)
			}
		}
		dist := func(j int) float64 { return SqEuclidean.Between(x[i*d:(i+1)*d], x[j*d:(j+1)*d]) }
		slices.SortFunc(others, func(a, b int) int {
			da, db := dist(a), dist(b)
			switch {
			case da < db:
				return -1
			case da > db:
				return 1
			}
			return 0
		})
		for _, j := range others[:min(k, len(others))] {
			var dot float64
			for c := range d {
				dot += (x[i*d+c] - x[j*d+c]) * (y[i*d+c] - y[j*d+c])
			}
			if dot < 0 {
				folded++
				break
			}
		}
	}
	return float64(folded) / float64(len(checked))
}

// TestFoldedFractionBruteForce compares against the definition on steps that
// fold in part of the space, for all points and for an evenly spaced sample.
func TestFoldedFractionBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 2, 3} {
		n := 400
		x := uniformCloud(rng, n, d)
		y := make([]float64, n*d)
		for k, v := range x {
			// y = v − (2/ω)·sin(ωv) per coordinate, ω = 8π: the step is
			// monotone where 1 − 2·cos(ωv) ≥ 0 and folds elsewhere.
			const omega = 8 * math.Pi
			y[k] = v - 2/omega*math.Sin(omega*v)
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		got, err := foldedFraction(x, y, d, 10, n)
		if err != nil {
			t.Fatal(err)
		}
		want := foldedBrute(x, y, d, 10, all)
		if got != want || want == 0 || want == 1 {
			t.Errorf("d=%d all points: got %v, brute force %v (want strictly between 0 and 1)", d, got, want)
		}
		sample := make([]int, 64)
		for r := range sample {
			sample[r] = r * n / len(sample)
		}
		got, err = foldedFraction(x, y, d, 10, len(sample))
		if err != nil {
			t.Fatal(err)
		}
		if want := foldedBrute(x, y, d, 10, sample); got != want {
			t.Errorf("d=%d sample: got %v, brute force %v", d, got, want)
		}
	}
}

// TestFoldedFractionExtremes: the gradient of a convex function never folds
// (that is the theorem behind it); a reflection folds every pair.
func TestFoldedFractionExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n, d := 500, 2
	x := uniformCloud(rng, n, d)
	convex, reflected := make([]float64, n*d), make([]float64, n*d)
	for i := range n {
		a, b := x[i*d], x[i*d+1]
		// ∇ of the convex a⁴ + a² + ab + b²: (4a³ + 2a + b, a + 2b).
		convex[i*d], convex[i*d+1] = 4*a*a*a+2*a+b, a+2*b
		reflected[i*d], reflected[i*d+1] = -a, b
	}
	if f, err := FoldedFraction(x, convex, d); err != nil || f != 0 {
		t.Errorf("gradient of a convex function: got %v, %v; want 0", f, err)
	}
	if f, err := FoldedFraction(x, reflected, d); err != nil || f != 1 {
		t.Errorf("reflection: got %v, %v; want 1", f, err)
	}
	if _, err := FoldedFraction(x, x[:len(x)-d], d); err == nil {
		t.Error("unequal sizes: want an error")
	}
}
