// Package figure draws 2-D potentials as level curves with the particles on
// top (gonum/plot), one panel per energy: the learned one and, when named,
// the true one.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Panel is one energy to draw.
type Panel struct {
	Title string
	V     models.Energy // a 2-D potential
}

// Box is the drawn region [XMin, XMax] × [YMin, YMax].
type Box struct{ XMin, XMax, YMin, YMax float64 }

// Resolution is the number of grid points per axis of the level curves.
const Resolution = 100

// levels is the number of level curves per panel.
const levels = 12

// WritePNG draws the panels side by side over box, with the particles
// (row-major n×2, may be empty) on every panel, as a PNG.
func WritePNG(w io.Writer, panels []Panel, box Box, particles []float64) error {
	const side = 5 * vg.Inch
	img := vgimg.New(side*vg.Length(len(panels)), side)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter, PadY: vg.Millimeter}
	for i, p := range panels {
		pl, err := panelPlot(p, box, particles)
		if err != nil {
			return err
		}
		pl.Draw(tiles.At(dc, i, 0))
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func panelPlot(p Panel, box Box, particles []float64) (*plot.Plot, error) {
	g := evalGrid(p.V, box)
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text, pl.Y.Label.Text = "x₁", "x₂"
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = box.XMin, box.XMax, box.YMin, box.YMax
	if lv := g.levels(); len(lv) > 1 {
		pl.Add(plotter.NewContour(g, lv, moreland.SmoothBlueRed().Palette(len(lv))))
	}
	if len(particles) > 0 {
		pts := make(plotter.XYs, len(particles)/2)
		for i := range pts {
			pts[i].X, pts[i].Y = particles[2*i], particles[2*i+1]
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("particles: %w", err)
		}
		sc.GlyphStyle.Radius = vg.Points(1)
		sc.GlyphStyle.Color = color.RGBA{A: 140}
		pl.Add(sc)
	}
	return pl, nil
}

// grid holds V on a Resolution × Resolution grid over the box.
type grid struct {
	box Box
	z   []float64 // row-major, row r is y = Y(r)
}

func evalGrid(v models.Energy, box Box) *grid {
	g := &grid{box: box, z: make([]float64, Resolution*Resolution)}
	pts := make([]float64, 0, 2*Resolution*Resolution)
	for r := 0; r < Resolution; r++ {
		for c := 0; c < Resolution; c++ {
			pts = append(pts, g.X(c), g.Y(r))
		}
	}
	v.Eval(pts, 2, g.z, nil)
	return g
}

func (g *grid) Dims() (c, r int)   { return Resolution, Resolution }
func (g *grid) Z(c, r int) float64 { return g.z[r*Resolution+c] }
func (g *grid) X(c int) float64 {
	return g.box.XMin + (g.box.XMax-g.box.XMin)*float64(c)/(Resolution-1)
}
func (g *grid) Y(r int) float64 {
	return g.box.YMin + (g.box.YMax-g.box.YMin)*float64(r)/(Resolution-1)
}

// levels are quantiles of the finite grid values, so that steep potentials
// still show curves where the particles are.
func (g *grid) levels() []float64 {
	var v []float64
	for _, z := range g.z {
		if !math.IsNaN(z) && !math.IsInf(z, 0) {
			v = append(v, z)
		}
	}
	if len(v) == 0 {
		return nil
	}
	sort.Float64s(v)
	var lv []float64
	for i := 1; i <= levels; i++ {
		q := v[(len(v)-1)*i/(levels+1)]
		if len(lv) == 0 || q > lv[len(lv)-1] {
			lv = append(lv, q)
		}
	}
	return lv
}

// BoundingBox is the particles' bounding box widened by 5% (the default
// [−4, 4]² when there are none).
func BoundingBox(particles []float64) Box {
	if len(particles) < 2 {
		return Box{-4, 4, -4, 4}
	}
	b := Box{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	for i := 0; i+1 < len(particles); i += 2 {
		b.XMin, b.XMax = min(b.XMin, particles[i]), max(b.XMax, particles[i])
		b.YMin, b.YMax = min(b.YMin, particles[i+1]), max(b.YMax, particles[i+1])
	}
	padX, padY := 0.05*(b.XMax-b.XMin)+1e-9, 0.05*(b.YMax-b.YMin)+1e-9
	return Box{b.XMin - padX, b.XMax + padX, b.YMin - padY, b.YMax + padY}
}
