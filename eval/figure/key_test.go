package figure

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gonum.org/v1/plot"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// TestMiddleDaysDistinct: five days get colours at least 75 apart in RGB
// (a straight line from blue to red gave neighbours 59 apart, all purple).
func TestMiddleDaysDistinct(t *testing.T) {
	f := Figure{Observed: []Points{{Time: 0}, {Time: 2}, {Time: 4}, {Time: 6}, {Time: 10}}}
	colours := timeColours(f)
	times := []float64{0, 2, 4, 6, 10}
	for i := range times {
		for j := i + 1; j < len(times); j++ {
			a, b := colours[times[i]], colours[times[j]]
			d := math.Sqrt(sq(float64(a.R)-float64(b.R)) + sq(float64(a.G)-float64(b.G)) + sq(float64(a.B)-float64(b.B)))
			if d < 75 {
				t.Errorf("t=%g %v and t=%g %v are %.0f apart, want at least 75", times[i], a, times[j], b, d)
			}
		}
	}
}

func sq(x float64) float64 { return x * x }

func colourAt(img image.Image, x, y int) color.RGBA {
	return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
}

// TestEveryAxisHasThreeNumbers: the loss panel and the potential panels
// label at least three ticks on each axis; losses from 30 to 1.27 on a log
// scale labelled only 10 before.
func TestEveryAxisHasThreeNumbers(t *testing.T) {
	check := func(what string, min, max float64, ticks func(lo, hi float64) int) {
		t.Helper()
		if n := ticks(min, max); n < 3 {
			t.Errorf("%s: %d labelled ticks on [%g, %g], want at least 3", what, n, min, max)
		}
	}
	for _, losses := range [][]float64{{30, 5, 1.27}, {3.056, 2.1, 1.27}, {0.5, 0.5}, {1.0001, 1.0002}, {50, 3, 0.02}} {
		pl, err := lossPlot(losses)
		if err != nil {
			t.Fatal(err)
		}
		check("loss axis", pl.Y.Min, pl.Y.Max, labelledTicks(pl.Y.Tick.Marker))
	}
	v, _ := zoo.Get("styblinski_tang")
	for _, box := range []Box{{-4, 4, -4, 4}, {0.1, 0.12, -1e-3, 1e-3}} {
		pl, _, err := panelPlot(Panel{V: v}, Figure{Box: box}, nil)
		if err != nil {
			t.Fatal(err)
		}
		check("x axis", pl.X.Min, pl.X.Max, labelledTicks(pl.X.Tick.Marker))
		check("y axis", pl.Y.Min, pl.Y.Max, labelledTicks(pl.Y.Tick.Marker))
	}
}

func labelledTicks(m plot.Ticker) func(lo, hi float64) int {
	return func(lo, hi float64) int {
		n := 0
		for _, tick := range m.Ticks(lo, hi) {
			if tick.Label != "" && tick.Value >= lo && tick.Value <= hi {
				n++
			}
		}
		return n
	}
}

// TestLegendNamesDays: snapshots are named in the legend by their day
// labels (D2 (t=2)), and the key is drawn in its strip right of the data:
// the legend swatch of the only day lies right of every cell.
func TestLegendNamesDays(t *testing.T) {
	meta, err := snapshot.RecordTimeLabels(nil, []snapshot.TimeLabel{{Label: "D2", T: 2}, {Label: "D10", T: 10}})
	if err != nil {
		t.Fatal(err)
	}
	set := &snapshot.Set{D: 2, X: []float64{0, 0, 1, 1, 2, 2, 3, 3}, T: []float64{2, 2, 10, 10}, Meta: meta}
	got := Observed(set, CoordinatePlane(2, nil))
	if len(got) != 2 || got[0].Label != "D2 (t=2)" || got[1].Label != "D10 (t=10)" {
		t.Fatalf("observed labels %q", []string{got[0].Label, got[1].Label})
	}
	// Cells filling the box up to its top-right corner, where the legend
	// used to sit.
	var xy []float64
	for i := range 20 {
		for j := range 20 {
			xy = append(xy, float64(i)/19, float64(j)/19)
		}
	}
	f := Figure{Panels: []Panel{{Title: "cells"}}, Box: Box{0, 1, 0, 1}, Observed: []Points{{Time: 0, XY: xy, Label: "D0"}}}
	img := drawPNG(t, f)
	b := img.Bounds()
	strip := b.Max.X - int(float64(b.Dx())*float64(keyWidth)/float64(5*72))
	want := TimeColor(0)
	inStrip, cellsRight := false, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := colourAt(img, x, y); c == want {
				if x >= strip {
					inStrip = true
				} else {
					cellsRight = max(cellsRight, x)
				}
			}
		}
	}
	if !inStrip {
		t.Error("no swatch of the day's colour in the key strip")
	}
	if cellsRight == 0 || cellsRight >= strip {
		t.Errorf("cells drawn up to x = %d, the key strip starts at %d", cellsRight, strip)
	}
}
