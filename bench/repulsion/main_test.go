package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// TestGaussianGradient checks ∇W against central differences of W at points
// near, at and beyond σ, in d = 1, 2 and 3.
func TestGaussianGradient(t *testing.T) {
	g := gaussian{a: 2000, sigma: 0.5}
	const h = 1e-6
	for _, v := range [][]float64{{0.3}, {0.2, -0.1}, {0, 0}, {-0.7, 0.4}, {0.5, 0.5, -0.25}, {1.5, -1, 0}} {
		d := len(v)
		val, grad := make([]float64, 1), make([]float64, d)
		g.Eval(v, d, val, grad)
		if want := 2000 * math.Exp(-norm2(v)/0.5); math.Abs(val[0]-want) > 1e-9*want {
			t.Errorf("W(%v) = %v, want %v", v, val[0], want)
		}
		for k := range d {
			p, m := append([]float64(nil), v...), append([]float64(nil), v...)
			p[k] += h
			m[k] -= h
			wp, wm := make([]float64, 1), make([]float64, 1)
			g.Eval(p, d, wp, nil)
			g.Eval(m, d, wm, nil)
			// Central differences err by h²·W‴/6 ≈ 1e-12·2000·(1/σ)³ plus
			// rounding 1e-16·W/h ≈ 2e-7: 1e-5 absolute is ample.
			if fd := (wp[0] - wm[0]) / (2 * h); math.Abs(grad[k]-fd) > 1e-5 {
				t.Errorf("∂W/∂v_%d at %v = %v, central differences %v", k, v, grad[k], fd)
			}
		}
	}
}

func norm2(v []float64) float64 {
	var s float64
	for _, t := range v {
		s += t * t
	}
	return s
}

// TestRunRepels checks the written file: 3 snapshots of 50 particles, and a
// first step that moves each particle by exactly dt·(1/N)·Σ_j −∇W(x_i − x_j)
// (the drift recomputed here by brute force).
func TestRunRepels(t *testing.T) {
	var m meta
	m.Repulsion.A, m.Repulsion.Sigma = 300, 0.5
	m.Dim, m.Particles, m.Steps, m.DT, m.Seed = 2, 50, 2, 0.01, 3
	out := filepath.Join(t.TempDir(), "g.npz")
	if err := run(m, out); err != nil {
		t.Fatal(err)
	}
	set, err := snapshot.Load(out, snapshot.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	if len(snaps) != 3 || len(snaps[0].X) != 100 {
		t.Fatalf("%d snapshots, the first of %d values; want 3 of 100", len(snaps), len(snaps[0].X))
	}
	g, x0, x1 := gaussian{300, 0.5}, snaps[0].X, snaps[1].X
	var moved float64
	for i := range 50 {
		for k := range 2 {
			var f float64
			for j := range 50 {
				v := []float64{x0[2*i] - x0[2*j], x0[2*i+1] - x0[2*j+1]}
				grad := make([]float64, 2)
				g.Eval(v, 2, nil, grad)
				f -= grad[k] / 50
			}
			if want := x0[2*i+k] + 0.01*f; math.Abs(x1[2*i+k]-want) > 1e-12 {
				t.Fatalf("particle %d coordinate %d after a step: %v, want %v", i, k, x1[2*i+k], want)
			}
			moved += math.Abs(f)
		}
	}
	if moved == 0 {
		t.Error("no particle moved: the repulsion did nothing")
	}
	if !strings.Contains(string(set.Meta), `"repulsion":{"a":300,"sigma":0.5}`) {
		t.Errorf("meta %s does not record the kernel", set.Meta)
	}
}

// TestRunRefuses checks that bad settings are one line naming the flag.
func TestRunRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.npz")
	for _, c := range []struct {
		a, sigma float64
		out      string
		want     string
	}{
		{0, 0.5, out, "-a: expected a finite strength A > 0, got 0"},
		{1, -1, out, "-sigma: expected a finite range σ > 0, got -1"},
		{1, math.NaN(), out, "-sigma: expected a finite range σ > 0, got NaN"},
		{1, 1, "", "-out: expected an output .npz path"},
	} {
		var m meta
		m.Repulsion.A, m.Repulsion.Sigma = c.a, c.sigma
		m.Dim, m.Particles, m.Steps, m.DT = 2, 10, 1, 0.01
		if err := run(m, c.out); err == nil || err.Error() != c.want {
			t.Errorf("a = %v, σ = %v, out %q: error %v, want %q", c.a, c.sigma, c.out, err, c.want)
		}
	}
}
