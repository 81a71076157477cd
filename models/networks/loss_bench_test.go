package networks

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLossGrad times one training step's loss and gradient of
// jkonet-star with two subsample sets of 16 interaction samples per pair, on
// the fused path and on the Gorgonia graph.
func BenchmarkLossGrad(b *testing.B) {
	const samples = 16
	for _, d := range []int{2, 10} {
		for _, pairs := range []int{250, 1000, 10000} {
			n := testNet(b, "jkonet-star", d, 1)
			batch := testBatch(rand.New(rand.NewPCG(1, 2)), n, pairs, samples, false)
			grad := make([]float64, len(n.Params))
			b.Run(fmt.Sprintf("fused/d=%d/B=%d", d, pairs), func(b *testing.B) {
				if _, err := n.LossGrad(batch, grad); err != nil { // builds the workspace
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := n.LossGrad(batch, grad); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("graph/d=%d/B=%d", d, pairs), func(b *testing.B) {
				gl, err := NewGraphLoss(n, pairs, samples, false)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := gl.LossGrad(batch, n.Params, grad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
