package figure

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

func TestCoordinatePlane(t *testing.T) {
	p := CoordinatePlane(4, []float64{9, 9, 5, -2})
	uv := p.Project([]float64{1, 2, 3, 4, -1, 0.5, 7, 8})
	if want := []float64{1, 2, -1, 0.5}; !equal(uv, want, 0) {
		t.Fatalf("projected %v, want the first two coordinates %v", uv, want)
	}
	x := make([]float64, 4)
	p.Lift(3, -4, x)
	if want := []float64{3, -4, 5, -2}; !equal(x, want, 0) {
		t.Fatalf("lifted (3, −4) to %v, want %v: the other coordinates at the mean", x, want)
	}
}

// planeCloud is a grid a·e + b·f + c in d = 4, with e and f orthonormal
// and a of variance 5, b of variance 1: its principal plane is (e, f)
// through c, with scores (a, b).
func planeCloud() (x, e, f, c []float64, ab [][2]float64) {
	e, f, c = []float64{0.8, 0, -0.6, 0}, []float64{0, 0.6, 0, 0.8}, []float64{1, -2, 3, 0.5}
	for _, a := range []float64{-3, -1, 1, 3} {
		for _, b := range []float64{-1, 1} {
			for k := range 4 {
				x = append(x, a*e[k]+b*f[k]+c[k])
			}
			ab = append(ab, [2]float64{a, b})
		}
	}
	return x, e, f, c, ab
}

func TestPrincipalPlane(t *testing.T) {
	x, e, f, c, ab := planeCloud()
	p, err := PrincipalPlane(x, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(p.Origin, c, 1e-15) {
		t.Fatalf("origin %v, want the mean %v", p.Origin, c)
	}
	// Signed so that the entry of largest magnitude is positive.
	if !equal(p.Axes[0], e, 1e-12) || !equal(p.Axes[1], f, 1e-12) {
		t.Fatalf("axes %v, want %v and %v", p.Axes, e, f)
	}
	uv := p.Project(x)
	for i, want := range ab {
		if math.Abs(uv[2*i]-want[0]) > 1e-12 || math.Abs(uv[2*i+1]-want[1]) > 1e-12 {
			t.Fatalf("point %d projected to (%v, %v), want its scores %v", i, uv[2*i], uv[2*i+1], want)
		}
	}
	if _, err := PrincipalPlane([]float64{1, 2, 3}, 1); err == nil {
		t.Fatal("a principal plane in d = 1")
	}
}

// TestOnPlane: the level curves are V on the plane. With V = sphere
// (−10‖x‖²) and the plane of planeCloud, V(u, v) = −10‖c + u·e + v·f‖²,
// and c ⟂ neither e nor f, so the value checks the lift and not only
// the norm of (u, v).
func TestOnPlane(t *testing.T) {
	x, e, f, c, _ := planeCloud()
	p, err := PrincipalPlane(x, 4)
	if err != nil {
		t.Fatal(err)
	}
	sphere, _ := zoo.Get("sphere")
	v := p.OnPlane(sphere)
	uv := []float64{0, 0, 2, -1}
	val := make([]float64, 2)
	v.Eval(uv, 2, val, nil)
	for i := range 2 {
		var want float64
		for k := range 4 {
			xk := c[k] + uv[2*i]*e[k] + uv[2*i+1]*f[k]
			want += -10 * xk * xk
		}
		if math.Abs(val[i]-want) > 1e-12*math.Abs(want) {
			t.Fatalf("V on the plane at %v = %v, want %v", uv[2*i:2*i+2], val[i], want)
		}
	}
	if v.Dim() != 2 {
		t.Fatalf("dimension %d, want 2", v.Dim())
	}
	g := evalGrid(v, Box{-1, 1, -1, 1})
	if want := -10 * (1 + 4 + 9 + 0.25); math.Abs(g.Z(Resolution/2, Resolution/2)-want) > 0.6 {
		t.Fatalf("grid centre %v, want about %v (V at the mean)", g.Z(Resolution/2, Resolution/2), want)
	}
}

// TestTimeColours: each distinct time, observed or predicted, in increasing
// order from blue to red, whatever order the snapshots come in.
func TestTimeColours(t *testing.T) {
	f := Figure{
		Observed: []Points{{Time: 2}, {Time: 0}, {Time: 1}},
		Panels:   []Panel{{Predicted: []Points{{Time: 1}, {Time: 3}}}},
	}
	colours := timeColours(f)
	if len(colours) != 4 {
		t.Fatalf("%d colours, want one per distinct time (4)", len(colours))
	}
	if colours[0] != TimeColor(0) || colours[3] != TimeColor(1) || colours[1] != TimeColor(1.0/3) {
		t.Fatalf("colours %v: want TimeColor(rank/3)", colours)
	}
	for k := 1; k < 4; k++ {
		a, b := colours[float64(k-1)], colours[float64(k)]
		if b.R <= a.R || b.B >= a.B {
			t.Fatalf("t=%d %v → t=%d %v: later times should be redder and less blue", k-1, a, k, b)
		}
	}
	if c := TimeColor(0); c != (color.RGBA{0x1f, 0x4e, 0xb4, 255}) {
		t.Fatalf("TimeColor(0) = %v", c)
	}
}

// TestWritePNGDrawsCellsAndLoss: the loss adds a panel, and the cells are
// drawn in their time's colour (the centre pixel of a dot).
func TestWritePNGDrawsCellsAndLoss(t *testing.T) {
	var early, late []float64
	for i := range 50 {
		early = append(early, -2+0.01*float64(i), -2)
		late = append(late, 2, 2-0.01*float64(i))
	}
	f := Figure{
		Panels:   []Panel{{Title: "cells"}},
		Box:      Box{-3, 3, -3, 3},
		Observed: []Points{{Time: 0, XY: early}, {Time: 5, XY: late}},
		Losses:   []float64{1, 0.5, 0.2, 0.1},
	}
	img := drawPNG(t, f)
	if b := img.Bounds(); b.Dx() != 2*b.Dy() {
		t.Fatalf("a panel and the loss should make a 2:1 image, got %v", b)
	}
	for _, want := range []color.RGBA{TimeColor(0), TimeColor(1)} {
		if !hasColour(img, want) {
			t.Errorf("no pixel of colour %v: the cells are not drawn in their time's colour", want)
		}
	}
	if hasColour(img, TimeColor(0.5)) {
		t.Error("a colour of no snapshot's time was drawn")
	}
}

func hasColour(img image.Image, c color.RGBA) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				return true
			}
		}
	}
	return false
}

func equal(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}
