package ot

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestW1W2OneDimension compares with the sorted matching, optimal in 1-D for
// both costs.
func TestW1W2OneDimension(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	x, y := uniformCloud(rng, 50, 1), uniformCloud(rng, 50, 1)
	w1, err := W1(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := W2(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	xs, ys := slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y))
	var s1, s2 float64
	for i := range xs {
		s1 += math.Abs(xs[i]-ys[i]) / 50
		s2 += (xs[i] - ys[i]) * (xs[i] - ys[i]) / 50
	}
	if math.Abs(w1-s1) > 1e-12 || math.Abs(w2-math.Sqrt(s2)) > 1e-12 {
		t.Fatalf("W1 %v, W2 %v; sorted matching %v, %v", w1, w2, s1, math.Sqrt(s2))
	}
}

// TestW1UnequalSizes compares with W1 = ∫ |F(t) − G(t)| dt in 1-D.
func TestW1UnequalSizes(t *testing.T) {
	x := []float64{0, 1, 3}
	y := []float64{0.5, 2, 2.5, 4}
	w1, err := W1(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Between consecutive breakpoints F and G are constant.
	pts := slices.Sorted(slices.Values(append(slices.Clone(x), y...)))
	var want float64
	for k := 0; k+1 < len(pts); k++ {
		f := float64(countBelow(x, pts[k])) / 3
		g := float64(countBelow(y, pts[k])) / 4
		want += math.Abs(f-g) * (pts[k+1] - pts[k])
	}
	if math.Abs(w1-want) > 1e-12 {
		t.Fatalf("W1 %v, want %v", w1, want)
	}
}

func countBelow(x []float64, t float64) int {
	k := 0
	for _, v := range x {
		if v <= t {
			k++
		}
	}
	return k
}

// TestW2Translation: translating a cloud by s moves it by W2 = |s|.
func TestW2Translation(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	x := uniformCloud(rng, 40, 3)
	s := []float64{0.03, -0.02, 0.01}
	y := slices.Clone(x)
	for i := range y {
		y[i] += s[i%3]
	}
	w2, err := W2(x, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt(0.03*0.03 + 0.02*0.02 + 0.01*0.01); math.Abs(w2-want) > 1e-12 {
		t.Fatalf("W2 %v, want |s| = %v", w2, want)
	}
}

func TestW1PointMasses(t *testing.T) {
	w1, err := W1([]float64{0, 0}, []float64{3, 4, 3, 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if w1 != 5 {
		t.Fatalf("W1 %v, want 5", w1)
	}
	if _, err := W2([]float64{0, 0}, []float64{1}, 2); err == nil {
		t.Fatal("ragged target accepted")
	}
}
