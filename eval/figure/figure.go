// Package figure draws potentials as level curves with the cells on top
// (gonum/plot): one panel per energy (the learned one and, when named, the
// true one), on the plane of the first two coordinates or of the data's
// first two principal components (Plane), the cells coloured by time, the
// model's predictions as crosses, and the training loss per epoch.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Figure is what WritePNG draws: the panels side by side, then the loss.
type Figure struct {
	Panels []Panel
	Box    Box // the region of every panel, in plane coordinates
	// Observed are the cells of each snapshot, drawn as dots on every
	// panel, coloured by time (TimeColor, earliest blue, latest red).
	Observed []Points
	// Losses, one per epoch, are drawn in a last panel when there are any.
	Losses []float64
	Labels [2]string // axis names; empty: x₁, x₂
}

// Panel is one energy to draw.
type Panel struct {
	Title string
	V     models.Energy // 2-D: a potential on the plane (Plane.OnPlane); nil for none
	// Predicted are snapshots predicted by the model, drawn on this panel
	// as crosses in the colour of their time.
	Predicted []Points
}

// Points is one snapshot on the plane.
type Points struct {
	Time float64
	XY   []float64 // n×2
	// Label names the snapshot in the legend ("D2 (t=2)"; "": "t=2").
	Label string
}

// Box is the drawn region [XMin, XMax] × [YMin, YMax].
type Box struct{ XMin, XMax, YMin, YMax float64 }

// Resolution is the number of grid points per axis of the level curves.
const Resolution = 100

// levels is the number of level curves per panel.
const levels = 12

// MaxDrawn is the most points of a snapshot drawn: beyond it, every
// ⌈n/MaxDrawn⌉-th row (10^5 dots would hide each other and the curves).
const MaxDrawn = 2000

// WritePNG draws the figure as a PNG, each panel 5 inches square.
func WritePNG(w io.Writer, f Figure) error {
	const side = 5 * vg.Inch
	cols := len(f.Panels)
	if len(f.Losses) > 0 {
		cols++
	}
	img := vgimg.New(side*vg.Length(cols), side)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter}
	colours := timeColours(f)
	for i, p := range f.Panels {
		pl, key, err := panelPlot(p, f, colours)
		if err != nil {
			return err
		}
		// The key (days, levels) has a strip of its own at the right of
		// the panel, off the data.
		tile := tiles.At(dc, i, 0)
		width := tile.Max.X - tile.Min.X
		data, strip := draw.Crop(tile, 0, -keyWidth, 0, 0), draw.Crop(tile, width-keyWidth, 0, 0, 0)
		if err := drawPanel(pl, data); err != nil {
			return fmt.Errorf("panel %q: %w", p.Title, err)
		}
		key.Draw(strip)
	}
	if len(f.Losses) > 0 {
		pl, err := lossPlot(f.Losses)
		if err != nil {
			return err
		}
		if err := drawPanel(pl, tiles.At(dc, cols-1, 0)); err != nil {
			return fmt.Errorf("training loss: %w", err)
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

// keyWidth is the width of the strip, right of each panel, that holds its
// key: the days' colours and the values of the level curves.
const keyWidth = 1.45 * vg.Inch

// timeStops are the colours TimeColor passes through at f = 0, ¼, ½, ¾, 1:
// blue, teal, green, orange, red, every one dark enough to show on white.
// Red rises and blue falls along the whole path (later is redder), while
// the hues of the middle days differ (a straight line from blue to red made
// them near-identical purples).
var timeStops = [][3]float64{{0x1f, 0x4e, 0xb4}, {0x28, 0xa0, 0xaa}, {0x6e, 0xaa, 0x46}, {0xc8, 0x82, 0x2d}, {0xd6, 0x27, 0x28}}

// TimeColor is the colour of relative time f in [0, 1], piecewise linear
// in RGB through timeStops.
func TimeColor(f float64) color.RGBA {
	f = max(0, min(1, f))
	seg := min(int(f*float64(len(timeStops)-1)), len(timeStops)-2)
	u := f*float64(len(timeStops)-1) - float64(seg)
	from, to := timeStops[seg], timeStops[seg+1]
	var c [3]uint8
	for k := range c {
		c[k] = uint8(math.Round(from[k] + u*(to[k]-from[k])))
	}
	return color.RGBA{R: c[0], G: c[1], B: c[2], A: 255}
}

// timeColours maps each distinct time of the observed and predicted
// snapshots, in increasing order, to TimeColor(rank/(times − 1)).
func timeColours(f Figure) map[float64]color.RGBA {
	var times []float64
	for _, p := range f.Observed {
		times = append(times, p.Time)
	}
	for _, pn := range f.Panels {
		for _, p := range pn.Predicted {
			times = append(times, p.Time)
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	colours := make(map[float64]color.RGBA, len(times))
	for k, t := range times {
		colours[t] = TimeColor(float64(k) / float64(max(len(times)-1, 1)))
	}
	return colours
}

// panelPlot is the panel's plot and its key: a swatch and the name of each
// observed snapshot, then the value of each level curve in its grey.
func panelPlot(p Panel, f Figure, colours map[float64]color.RGBA) (*plot.Plot, plot.Legend, error) {
	key := plot.NewLegend()
	key.Top, key.Left = true, true
	key.TextStyle.Font.Size = vg.Points(10)
	key.ThumbnailWidth = vg.Points(14)
	box := f.Box
	unit := drawingUnit(box)
	pl := plot.New()
	pl.Title.Text = p.Title
	labels := f.Labels
	if labels[0] == "" {
		labels = [2]string{"x₁", "x₂"}
	}
	pl.X.Label.Text, pl.Y.Label.Text = labels[0], labels[1]
	if unit != 1 {
		pl.X.Label.Text, pl.Y.Label.Text = fmt.Sprintf("%s (×%g)", labels[0], unit), fmt.Sprintf("%s (×%g)", labels[1], unit)
	}
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = box.XMin/unit, box.XMax/unit, box.YMin/unit, box.YMax/unit
	var curves []float64
	if p.V != nil {
		g := evalGrid(p.V, box)
		if lv := g.levels(); len(lv) > 1 {
			dg, dlv := g.forDrawing(unit, lv)
			pl.Add(plotter.NewContour(dg, dlv, greys(len(lv))))
			curves = lv
		}
	}
	for _, set := range []struct {
		snaps []Points
		shape draw.GlyphDrawer
		what  string
	}{{f.Observed, draw.CircleGlyph{}, "observed"}, {p.Predicted, draw.CrossGlyph{}, "predicted"}} {
		for _, s := range set.snaps {
			sc, err := scatter(s, unit, colours[s.Time], set.shape)
			if err != nil {
				return nil, key, fmt.Errorf("%s t=%g: %w", set.what, s.Time, err)
			}
			if sc == nil {
				continue
			}
			pl.Add(sc)
			if set.what == "observed" {
				name := s.Label
				if name == "" {
					name = fmt.Sprintf("t=%g", s.Time)
				}
				swatch := *sc
				swatch.GlyphStyle.Radius = vg.Points(3.5)
				key.Add(name, &swatch)
			}
		}
	}
	if len(p.Predicted) > 0 {
		pl.Title.Text += "; × one-step predictions"
	}
	if len(curves) > 0 {
		key.Add("")
		key.Add("V at the curves")
		palette := greys(len(curves)).Colors()
		for k := len(curves) - 1; k >= 0; k-- {
			line, err := plotter.NewLine(plotter.XYs{{}, {}})
			if err != nil {
				return nil, key, err
			}
			line.Color, line.Width = palette[k], vg.Points(2)
			key.Add(fmt.Sprintf("%.3g", curves[k]), line)
		}
	}
	threeTicks(pl)
	return pl, key, nil
}

// threeTicks gives each axis of pl at least three labelled ticks: where
// its marker labels fewer (gonum/plot's log ticks label only powers of
// ten; a narrow linear range may get two), the ends and the middle
// (geometric on a log scale) are labelled.
func threeTicks(pl *plot.Plot) {
	for _, ax := range []*plot.Axis{&pl.X, &pl.Y} {
		_, log := ax.Scale.(plot.LogScale)
		ax.Tick.Marker = atLeastThree{inner: ax.Tick.Marker, log: log}
	}
}

type atLeastThree struct {
	inner plot.Ticker
	log   bool
}

func (a atLeastThree) Ticks(lo, hi float64) []plot.Tick {
	ticks := a.inner.Ticks(lo, hi)
	labelled := 0
	for _, t := range ticks {
		if t.Label != "" && t.Value >= lo && t.Value <= hi { // the axis draws no others
			labelled++
		}
	}
	if labelled >= 3 || !(hi > lo) {
		return ticks
	}
	mid := (lo + hi) / 2
	if a.log && lo > 0 {
		mid = math.Sqrt(lo * hi)
	}
	out := []plot.Tick{{Value: lo, Label: tickLabel(lo, hi)}, {Value: mid, Label: tickLabel(mid, hi-lo)}, {Value: hi, Label: tickLabel(hi, hi-lo)}}
	for _, t := range ticks {
		if t.Label == "" { // keep the minor ticks
			out = append(out, t)
		}
	}
	return out
}

// tickLabel formats v with enough digits to tell ticks span apart.
func tickLabel(v, span float64) string {
	digits := 3
	if v != 0 && span > 0 {
		digits = max(2, min(8, int(math.Ceil(math.Log10(math.Abs(v)/span)))+2))
	}
	return strconv.FormatFloat(v, 'g', digits, 64)
}

// scatter is the snapshot's dots (at most MaxDrawn), or nil when it has none.
func scatter(s Points, unit float64, c color.Color, shape draw.GlyphDrawer) (*plotter.Scatter, error) {
	n := len(s.XY) / 2
	if n == 0 {
		return nil, nil
	}
	stride := (n + MaxDrawn - 1) / MaxDrawn
	pts := make(plotter.XYs, 0, (n+stride-1)/stride)
	for i := 0; i < n; i += stride {
		pts = append(pts, plotter.XY{X: s.XY[2*i] / unit, Y: s.XY[2*i+1] / unit})
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Radius = vg.Points(1.2)
	sc.GlyphStyle.Color = c
	sc.GlyphStyle.Shape = shape
	return sc, nil
}

// greys is a palette of n greys, dark for low levels, so that the level
// curves do not compete with the time colours of the cells.
func greys(n int) palette.Palette {
	p := make(greyPalette, n)
	for k := range p {
		v := uint8(60 + 140*k/max(n-1, 1))
		p[k] = color.Gray{Y: v}
	}
	return p
}

type greyPalette []color.Color

func (p greyPalette) Colors() []color.Color { return p }

// lossPlot is the training loss per epoch, on a log scale when every loss
// is positive and they span a decade or more (log ticks label only powers of
// ten, so a narrower range would show no number).
func lossPlot(losses []float64) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = "training loss"
	pl.X.Label.Text, pl.Y.Label.Text = "epoch", "loss"
	pts := make(plotter.XYs, len(losses))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, l := range losses {
		pts[i] = plotter.XY{X: float64(i + 1), Y: l}
		lo, hi = min(lo, l), max(hi, l)
	}
	if lo > 0 && !math.IsInf(hi, 0) {
		// The range is set, not left to gonum/plot, which pads a single
		// value to a range that reaches below 0.
		if lo == hi {
			lo, hi = lo/2, hi*2
		}
		pl.Y.Min, pl.Y.Max = lo, hi
		if hi >= 10*lo {
			pl.Y.Scale, pl.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, fmt.Errorf("training loss: %w", err)
	}
	pl.Add(line)
	threeTicks(pl)
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

// BoundingBox is the bounding box of the points (n×2 each) widened by 5%
// (the default [−4, 4]² when there are none).
func BoundingBox(points ...[]float64) Box {
	var all []float64
	for _, p := range points {
		all = append(all, p...)
	}
	return boundingBox(all)
}

func boundingBox(particles []float64) Box {
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
