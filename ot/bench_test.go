package ot

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkExact times Exact on uniform random points in [0, 1]^d: the sizes
// of docs/architecture.md §7, and a near-square pair (gcd 1) as independent splits
// produce.
func BenchmarkExact(b *testing.B) {
	for _, c := range []struct{ n, m, d int }{
		{1000, 1000, 2}, {2000, 2000, 2}, {4000, 4000, 2}, {1500, 2500, 2}, {2000, 1999, 2},
	} {
		b.Run(fmt.Sprintf("%dx%d_d%d", c.n, c.m, c.d), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			x, y := uniformCloud(rng, c.n, c.d), uniformCloud(rng, c.m, c.d)
			for b.Loop() {
				if _, err := Exact(x, y, c.d, SqEuclidean); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
