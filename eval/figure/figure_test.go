package figure

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

func TestWritePNG(t *testing.T) {
	v, _ := zoo.Get("styblinski_tang")
	particles := []float64{-1, -1, 2, 3, 0.5, -2}
	f := Figure{Panels: []Panel{{Title: "a", V: v}, {Title: "b", V: v}}, Box: BoundingBox(particles), Observed: []Points{{Time: 0, XY: particles}}}
	if b := drawPNG(t, f).Bounds(); b.Dx() != 2*b.Dy() {
		t.Fatalf("two panels should make a 2:1 image, got %v", b)
	}
}

// drawPNG draws f with WritePNG and decodes the PNG it wrote.
func drawPNG(t *testing.T, f Figure) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePNG(&buf, f); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBoundingBoxAndLevels(t *testing.T) {
	b := BoundingBox([]float64{0, 10, 2, 30})
	if b.XMin != -0.1-1e-9 || b.XMax != 2.1+1e-9 || b.YMin != 9-1e-9 || b.YMax != 31+1e-9 {
		t.Fatalf("box %+v", b)
	}
	if d := BoundingBox(nil); d != (Box{-4, 4, -4, 4}) {
		t.Fatalf("default box %+v", d)
	}
	flat, _ := zoo.Get("flat")
	if lv := evalGrid(flat, d2()).levels(); len(lv) != 1 {
		t.Fatalf("a flat potential has %d distinct levels, want 1", len(lv))
	}
	sphere, _ := zoo.Get("sphere")
	lv := evalGrid(sphere, d2()).levels()
	for i := 1; i < len(lv); i++ {
		if lv[i] <= lv[i-1] {
			t.Fatalf("levels not increasing: %v", lv)
		}
	}
	if len(lv) != levels {
		t.Fatalf("%d levels, want %d", len(lv), levels)
	}
}

func d2() Box { return Box{-4, 4, -4, 4} }

// TestLossAxisHasNumbers: the loss axis labels at least two values whether
// the losses span a decade (log scale) or less (linear). On a log scale a
// range within one decade could leave the axis without a number (a 100-epoch
// run with losses from 3.06 to 1.27 drew none); the flat case below fails
// that way on a log scale.
func TestLossAxisHasNumbers(t *testing.T) {
	for _, losses := range [][]float64{{3.056, 2.1, 1.27}, {50, 3, 0.02}, {0.5, 0.5}} {
		pl, err := lossPlot(losses)
		if err != nil {
			t.Fatal(err)
		}
		labelled := 0
		for _, tick := range pl.Y.Tick.Marker.Ticks(pl.Y.Min, pl.Y.Max) {
			if tick.Label != "" {
				labelled++
			}
		}
		if labelled < 2 {
			t.Errorf("losses %v: %d labelled ticks on [%g, %g], want at least 2", losses, labelled, pl.Y.Min, pl.Y.Max)
		}
	}
}
