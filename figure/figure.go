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
		if err := drawPanel(pl, tiles.At(dc, i, 0)); err != nil {
			return fmt.Errorf("panel %q: %w", p.Title, err)
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// drawPanel draws pl, turning a panic of gonum/plot into an error. Its
// contour tracer panics ("contour: not a linear path", a write to a nil
// map) on NaN crossing points; forDrawing removes the causes known (heights
// times coordinates that overflow, heights that are not finite), and this
// makes any other one line rather than a crash.
func drawPanel(pl *plot.Plot, c draw.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the plotting library could not draw it over [%.3g, %.3g] × [%.3g, %.3g] (%v); plot a smaller region or rescaled data",
				pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max, r)
		}
	}()
	pl.Draw(c)
	return nil
}

func panelPlot(p Panel, box Box, particles []float64) (*plot.Plot, error) {
	g := evalGrid(p.V, box)
	unit := drawingUnit(box)
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text, pl.Y.Label.Text = "x₁", "x₂"
	if unit != 1 {
		pl.X.Label.Text, pl.Y.Label.Text = fmt.Sprintf("x₁ (×%g)", unit), fmt.Sprintf("x₂ (×%g)", unit)
	}
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = box.XMin/unit, box.XMax/unit, box.YMin/unit, box.YMax/unit
	if lv := g.levels(); len(lv) > 1 {
		dg, dlv := g.forDrawing(unit, lv)
		pl.Add(plotter.NewContour(dg, dlv, moreland.SmoothBlueRed().Palette(len(lv))))
	}
	if len(particles) > 0 {
		pts := make(plotter.XYs, len(particles)/2)
		for i := range pts {
			pts[i].X, pts[i].Y = particles[2*i]/unit, particles[2*i+1]/unit
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
func (g *grid) X(c int) float64    { return lerp(g.box.XMin, g.box.XMax, float64(c)/(Resolution-1)) }
func (g *grid) Y(r int) float64    { return lerp(g.box.YMin, g.box.YMax, float64(r)/(Resolution-1)) }

// lerp is lo + (hi − lo)·f, or lo·(1 − f) + hi·f where hi − lo overflows.
func lerp(lo, hi, f float64) float64 {
	if w := hi - lo; !math.IsInf(w, 0) {
		return lo + w*f
	}
	return lo*(1-f) + hi*f
}

// drawingUnit is the unit the figure is drawn in: 1, or for a box beyond
// ±1e6 the power of ten of its largest coordinate (the axes say so).
func drawingUnit(box Box) float64 {
	m := max(math.Abs(box.XMin), math.Abs(box.XMax), math.Abs(box.YMin), math.Abs(box.YMax))
	if !(m > 1e6) || math.IsInf(m, 0) {
		return 1
	}
	return math.Pow(10, math.Floor(math.Log10(m)))
}

// forDrawing is the grid and levels as gonum/plot's contour tracer gets
// them. CONREC interpolates a crossing as (h₂x₁ − h₁x₂)/(h₂ − h₁), h the
// heights above the level, so heights times coordinates must not overflow:
// at x ~ 1e160 with V ~ 1e159 they did, and the tracer then looped, ran out
// of memory or panicked on NaN points. So the coordinates are drawn in
// units of unit, the heights scaled by the power of two that brings the
// largest finite |V| below 1 (exact: the curves are the same), and the
// values that are not finite drawn as a plateau beyond the levels (+Inf
// and NaN above the highest, −Inf below the lowest).
func (g *grid) forDrawing(unit float64, lv []float64) (*drawGrid, []float64) {
	var top float64
	for _, z := range g.z {
		if !math.IsNaN(z) && !math.IsInf(z, 0) {
			top = max(top, math.Abs(z))
		}
	}
	_, e := math.Frexp(top) // top < 2^e
	dg := &drawGrid{g: g, unit: unit, z: make([]float64, len(g.z))}
	for i, z := range g.z {
		switch {
		case math.IsNaN(z) || math.IsInf(z, 1):
			dg.z[i] = 2
		case math.IsInf(z, -1):
			dg.z[i] = -2
		default:
			dg.z[i] = math.Ldexp(z, -e)
		}
	}
	dlv := make([]float64, len(lv))
	for i, v := range lv {
		dlv[i] = math.Ldexp(v, -e)
	}
	return dg, dlv
}

// drawGrid is a grid in drawing units (see forDrawing).
type drawGrid struct {
	g    *grid
	unit float64
	z    []float64
}

func (d *drawGrid) Dims() (c, r int)   { return Resolution, Resolution }
func (d *drawGrid) Z(c, r int) float64 { return d.z[r*Resolution+c] }
func (d *drawGrid) X(c int) float64    { return d.g.X(c) / d.unit }
func (d *drawGrid) Y(r int) float64    { return d.g.Y(r) / d.unit }

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
	// Points spanning more than MaxFloat64 (±1e308): 0.05·max − 0.05·min,
	// which does not overflow, and edges clamped to finite values.
	if math.IsInf(padX, 0) {
		padX = 0.05*b.XMax - 0.05*b.XMin
	}
	if math.IsInf(padY, 0) {
		padY = 0.05*b.YMax - 0.05*b.YMin
	}
	edge := func(v float64) float64 { return max(-math.MaxFloat64, min(math.MaxFloat64, v)) }
	return Box{edge(b.XMin - padX), edge(b.XMax + padX), edge(b.YMin - padY), edge(b.YMax + padY)}
}
