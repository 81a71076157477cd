package ot

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExactBlocksSquare(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	x, y := uniformCloud(rng, 10, 2), uniformCloud(rng, 10, 2)
	p, err := ExactBlocks(x, y, 2, SqEuclidean, 4)
	if err != nil {
		t.Fatal(err)
	}
	checkMarginals(t, p, x, y, 2, SqEuclidean)
	var want float64
	for _, b := range [][2]int{{0, 4}, {4, 8}, {8, 10}} {
		q, err := Exact(x[2*b[0]:2*b[1]], y[2*b[0]:2*b[1]], 2, SqEuclidean)
		if err != nil {
			t.Fatal(err)
		}
		want += q.Cost * float64(b[1]-b[0]) / 10
	}
	for _, q := range p.Pairs {
		if q.I/4 != q.J/4 || q.W != 0.1 {
			t.Fatalf("pair %+v crosses blocks or has weight ≠ 1/10", q)
		}
	}
	if len(p.Pairs) != 10 || math.Abs(p.Cost-want) > 1e-15 {
		t.Fatalf("%d pairs, cost %v, want 10 pairs, %v", len(p.Pairs), p.Cost, want)
	}
}

func TestExactBlocksRectangular(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x, y := uniformCloud(rng, 10, 2), uniformCloud(rng, 15, 2)
	p, err := ExactBlocks(x, y, 2, SqEuclidean, 5) // 3 blocks: 3+3+4 sources, 5+5+5 targets
	if err != nil {
		t.Fatal(err)
	}
	srcBlock := func(i int) int {
		switch {
		case i < 3:
			return 0
		case i < 6:
			return 1
		}
		return 2
	}
	rows := make([]float64, 10)
	var total float64
	for _, q := range p.Pairs {
		if srcBlock(q.I) != q.J/5 {
			t.Fatalf("pair %+v crosses blocks", q)
		}
		rows[q.I] += q.W
		total += q.W
	}
	for i, r := range rows {
		if math.Abs(r-0.1) > 1e-15 {
			t.Fatalf("row %d sums to %v", i, r)
		}
	}
	if math.Abs(total-1) > 1e-14 || p.U != nil {
		t.Fatalf("total mass %v, duals %v", total, p.U)
	}
}

func TestExactBlocksOneBlockIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x, y := uniformCloud(rng, 30, 3), uniformCloud(rng, 20, 3)
	p, err := ExactBlocks(x, y, 3, SqEuclidean, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkDuals(t, p, x, y, 3, SqEuclidean)
	q, err := ExactBlocks(x, y, 3, SqEuclidean, 1000)
	if err != nil || q.Cost != p.Cost {
		t.Fatalf("block 1000 > n: %v, cost %v, want %v", err, q.Cost, p.Cost)
	}
	if _, err := ExactBlocks(x, y, 3, SqEuclidean, -1); err == nil {
		t.Fatal("block −1 accepted")
	}
}

func TestSinkhornBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	x, y := uniformCloud(rng, 12, 2), uniformCloud(rng, 12, 2)
	r, err := SinkhornBlocks(x, y, 2, SinkhornOptions{Epsilon: 0.05, Tol: 1e-9, MaxIter: 100000}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged || r.MarginalError >= 1e-9 {
		t.Fatalf("converged %v, marginal error %v", r.Converged, r.MarginalError)
	}
	for _, q := range r.Plan.Pairs {
		if q.I/5 != q.J/5 {
			t.Fatalf("pair %+v crosses blocks", q)
		}
	}
	checkRowMass(t, r, 12)
}

// TestExactBlocksProgress: the callback hears every block once, in order,
// and the plan is ExactBlocks's.
func TestExactBlocksProgress(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x, y := uniformCloud(rng, 10, 2), uniformCloud(rng, 15, 2)
	nb, err := Blocks(10, 15, 5)
	if err != nil || nb != 3 {
		t.Fatalf("Blocks(10, 15, 5) = %d, %v; want 3 blocks", nb, err)
	}
	var heard []int
	p, err := ExactBlocksProgress(x, y, 2, SqEuclidean, 5, func(done, blocks int) {
		if blocks != nb {
			t.Errorf("told %d blocks, want %d", blocks, nb)
		}
		heard = append(heard, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(heard) != 3 || heard[0] != 1 || heard[1] != 2 || heard[2] != 3 {
		t.Fatalf("progress heard %v, want [1 2 3]", heard)
	}
	q, err := ExactBlocks(x, y, 2, SqEuclidean, 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cost != q.Cost || len(p.Pairs) != len(q.Pairs) {
		t.Fatalf("with progress: cost %v, %d pairs; without: %v, %d", p.Cost, len(p.Pairs), q.Cost, len(q.Pairs))
	}
	for i := range p.Pairs {
		if p.Pairs[i] != q.Pairs[i] {
			t.Fatalf("pair %d: %+v with progress, %+v without", i, p.Pairs[i], q.Pairs[i])
		}
	}
	if _, err := Blocks(10, 10, -1); err == nil {
		t.Fatal("Blocks accepted a negative block size")
	}
}
