package simulate

import (
	"math"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// TestRunRefusesDivergence: a dt or β far too large for the energy sends
// the particles to ±Inf. Run must say so, never return snapshots holding
// Inf or NaN (the noise used to be added after the only check, so one step
// with β = 1e308 returned -Inf coordinates without an error).
func TestRunRefusesDivergence(t *testing.T) {
	st, err := zoo.Get("styblinski_tang")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"huge beta": {Potential: st, Beta: 1e308, Dim: 2, Particles: 20, Steps: 1, DT: 0.01, Seed: 1},
		"huge dt":   {Potential: st, Dim: 2, Particles: 20, Steps: 2, DT: 1e100, Seed: 1},
	} {
		res, err := Run(c)
		if err == nil {
			for _, x := range res.X {
				for _, v := range x {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%s: no error, and a snapshot holds %v", name, v)
					}
				}
			}
			t.Fatalf("%s: no error", name)
		}
		if !strings.Contains(err.Error(), "diverged") {
			t.Errorf("%s: error %q does not say the simulation diverged", name, err)
		}
	}
}
