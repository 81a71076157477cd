package figure

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// TestWritePNGFarFromTheData: a network potential over a region of order
// 1e160 (data that large) gave gonum/plot's contour tracer heights times
// coordinates that overflow; it then panicked ("internal error" from plot),
// looped, or ran out of memory. The same for points at ±1e308, whose box
// width overflows. WritePNG must draw them.
func TestWritePNGFarFromTheData(t *testing.T) {
	net, err := networks.NewNet("potential", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, particles := range [][]float64{
		{1e160, 2e160, -1e160, 0, 3e159, 1},
		{1.7e308, -1.7e308, -1.7e308, 1.7e308, 0, 0},
	} {
		box := BoundingBox(particles)
		for _, v := range []float64{box.XMin, box.XMax, box.YMin, box.YMax} {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("box %+v of %v", box, particles)
			}
		}
		var buf bytes.Buffer
		f := Figure{Panels: []Panel{{Title: "learned V", V: net.PotentialAt(0)}}, Box: box, Observed: []Points{{Time: 1, XY: particles}}}
		if err := WritePNG(&buf, f); err != nil {
			t.Fatalf("%v: %v", particles, err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("\x89PNG")) {
			t.Fatalf("%v: not a PNG", particles)
		}
	}
}

// nonFinite is V = x₁² + x₂² on x₁ < 0, NaN on 0 ≤ x₁ < 1, +Inf beyond.
type nonFinite struct{}

func (nonFinite) Dim() int { return 2 }
func (nonFinite) Eval(x []float64, d int, val, grad []float64) {
	for i := range val {
		switch a := x[2*i]; {
		case a < 0:
			val[i] = a*a + x[2*i+1]*x[2*i+1]
		case a < 1:
			val[i] = math.NaN()
		default:
			val[i] = math.Inf(1)
		}
	}
}

// TestWritePNGWithNonFiniteValues: V that is NaN or Inf over part of the
// region is drawn (as a plateau beyond the levels), not fed to the tracer.
func TestWritePNGWithNonFiniteValues(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePNG(&buf, Figure{Panels: []Panel{{Title: "V", V: nonFinite{}}}, Box: Box{-3, 3, -3, 3}}); err != nil {
		t.Fatal(err)
	}
}

// panicking is a plotter that fails as gonum's contour tracer did.
type panicking struct{}

func (panicking) Plot(draw.Canvas, *plot.Plot) { panic("contour: not a linear path") }

func TestDrawPanelTurnsPanicsIntoErrors(t *testing.T) {
	pl := plot.New()
	pl.Add(panicking{})
	err := drawPanel(pl, draw.New(vgimg.New(100, 100)))
	if err == nil || !strings.Contains(err.Error(), "not a linear path") {
		t.Fatalf("drawPanel: %v", err)
	}
}
