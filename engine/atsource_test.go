package engine

import (
	"math"
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// TestForNetFitsAtSource: for time-potential the backend's loss is the
// pair-weighted mean of ‖τ∇ₓV([x, T]) + (y − x)‖², ∇V taken at the source
// x, computed here directly from the network; the problem given is left as
// it was. Variants fitted at the target get the problem itself.
func TestForNetFitsAtSource(t *testing.T) {
	p := quadraticProblem(40)
	x0, y0 := slices.Clone(p.Pairs.X), slices.Clone(p.Pairs.Y)
	plain, err := networks.NewNet("potential", p.D, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.ForNet(plain) != p {
		t.Fatal("potential: ForNet changed the problem")
	}
	for kind, want := range map[string]bool{"time-potential": true, "potential": false, "jkonet-star": false, "linear": false} {
		if networks.FitsAtSource(kind) != want {
			t.Errorf("FitsAtSource(%q) = %v, want %v", kind, !want, want)
		}
	}
	net, err := networks.NewNet("time-potential", p.D, 1)
	if err != nil {
		t.Fatal(err)
	}
	q := p.ForNet(net)
	if !slices.Equal(p.Pairs.X, x0) || !slices.Equal(p.Pairs.Y, y0) {
		t.Fatal("ForNet changed the pairs of the problem it was given")
	}
	s := DefaultSettings()
	b, err := newCPU(net, q, s)
	if err != nil {
		t.Fatal(err)
	}
	n := p.Pairs.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if err := b.SetOrder(order); err != nil {
		t.Fatal(err)
	}
	loss, _, err := b.(Prober).Probe(0, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, n*p.D)
	net.PotentialAt(p.TargetTime(0)).Eval(p.Pairs.X, p.D, nil, grad)
	var want, wsum float64
	for i := 0; i < n; i++ {
		var r2 float64
		for a := 0; a < p.D; a++ {
			j := i*p.D + a
			r := p.Pairs.Tau[i]*grad[j] + (p.Pairs.Y[j] - p.Pairs.X[j])
			r2 += r * r
		}
		want += p.Pairs.W[i] * r2
		wsum += p.Pairs.W[i]
	}
	want /= wsum
	if math.Abs(loss.Value-want) > 1e-12*want {
		t.Fatalf("loss %.17g, want %.17g (∇V at the source)", loss.Value, want)
	}
}
