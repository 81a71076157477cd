package engine

import (
	"context"
	"math"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/couplings"
	"github.com/jkonet-gpu/jkonet-gpu/networks"
	"github.com/jkonet-gpu/jkonet-gpu/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/zoo"
)

// TestRecoversBetaWithTruePotential: with V held at the true potential, β is
// identifiable where diffusion is visible against the particle spacing
// (DESIGN.md §1). N = 2000 particles uniform on [−4, 4]², β = 5, dt = 0.01:
// β·dt = 0.05 in model units, recovered within 25% (0.0446 here).
//
// The true potential is flat. With a steep one the estimate is biased low
// (styblinski_tang: 0.031): the generator steps explicitly, with ∇V at x,
// while the loss takes ∇V at the target y, and the difference is of the
// size of the diffusion.
//
// Holding V at the truth: a potential-internal network whose V is zero and
// frozen, trained on pairs whose sources are shifted by the true drift,
// x ← x − τ·dt·∇V(y), so that its residual τ(0 + βs(y)) + (y − x_shifted)
// equals the residual τ(dt∇V(y) + βs(y)) + (y − x) of the true V.
func TestRecoversBetaWithTruePotential(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates, couples and trains 2000 particles")
	}
	const dt, beta = 0.01, 5.0
	v, _ := zoo.Get("flat")
	res, err := simulate.Run(simulate.Config{Potential: v, Beta: beta, Dim: 2, Particles: 2000, Steps: 2, DT: dt, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	xs := res.X
	set := snapshot.FromTrajectories(xs, 2)
	c, _, err := couplings.Compute(set, couplings.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, len(c.Y))
	v.Eval(c.Y, 2, nil, grad)
	for i := range c.X {
		c.X[i] -= c.Tau[i/2] * dt * grad[i]
	}
	p, err := NewProblem(c, set)
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	s.Epochs, s.LR, s.Freeze = 60, 1e-2, []string{"V"}
	net, err := networks.NewNet("potential-internal", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	clear(net.Params) // V ≡ 0, β = 0
	b, err := newCPU(net, p, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := Train(context.Background(), b, p, s, Observer{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("learned β = %v, true β·dt = %v", net.Beta(), beta*dt)
	if got, want := net.Beta(), beta*dt; math.Abs(got-want) > 0.25*want {
		t.Fatalf("learned β = %v, want %v within 25%%", got, want)
	}
	for _, x := range net.Params[:len(net.Params)-1] {
		if x != 0 {
			t.Fatal("the frozen V moved")
		}
	}
}
