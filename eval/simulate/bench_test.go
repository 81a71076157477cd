package simulate

import (
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// BenchmarkRun5000D10 is the size: N = 5000, d = 10, 5 steps with an
// interaction (25·10⁶ kernel gradients per step).
func BenchmarkRun5000D10(b *testing.B) {
	v, _ := zoo.Get("styblinski_tang")
	w, _ := zoo.Get("wavy_plateau")
	for i := 0; i < b.N; i++ {
		if _, err := Run(Config{Potential: v, Interaction: w, Beta: 0.1, Dim: 10, Particles: 5000, Steps: 5, DT: 0.01}); err != nil {
			b.Fatal(err)
		}
	}
}
