package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/h5ad"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// predicted is predict's result, cell by cell: each predicted point with
// the source cell it moved from.
type predicted struct {
	set       *snapshot.Set    // the cells predict read, in model coordinates
	transform *cells.Transform // what maps input columns to model ones (nil: none)
	preds     []evaluate.Prediction
	rows      []int     // the source row of each predicted point
	x         []float64 // the predicted points, model coordinates
	t, from   []float64 // each predicted point's time and its source's
}

// collect pairs the predictions with their source rows: prediction k moves
// the snapshot at p.From, row by row in the snapshot's order.
func collect(set *snapshot.Set, preds []evaluate.Prediction) (*predicted, error) {
	t, err := cells.FromMeta(set.Meta)
	if err != nil {
		return nil, err
	}
	r := &predicted{set: set, transform: t, preds: preds}
	snaps := set.Snapshots()
	for _, p := range preds {
		k := slices.IndexFunc(snaps, func(s snapshot.Snapshot) bool { return s.Time == p.From })
		if k < 0 || len(snaps[k].Rows)*set.D != len(p.X) {
			return nil, fmt.Errorf("internal error: the prediction from t=%v matches no snapshot of the cells", p.From)
		}
		for _, row := range snaps[k].Rows {
			r.rows = append(r.rows, row)
			r.t = append(r.t, p.To)
			r.from = append(r.from, p.From)
		}
		r.x = append(r.x, p.X...)
	}
	return r, nil
}

// spaceName checks --space.
func spaceName(space string) error {
	if space != "model" && space != "input" {
		return fmt.Errorf("--space: expected model or input, got %q", space)
	}
	return nil
}

// inInput maps n rows of model coordinates to the input's columns (the
// inverse of the transform; the points themselves when there is none).
func (r *predicted) inInput(x []float64) []float64 {
	if r.transform == nil {
		return x
	}
	return r.transform.Inverse(x, len(x)/r.set.D)
}

// inputDim is the number of columns of points in the input's coordinates.
func (r *predicted) inputDim() int {
	if r.transform == nil {
		return r.set.D
	}
	return r.transform.KeptDim()
}

// sources are the source cells' points, model coordinates, in the order of
// the predictions.
func (r *predicted) sources() []float64 {
	var x []float64
	for _, row := range r.rows {
		x = append(x, r.set.Row(row)...)
	}
	return x
}

// names are the source cells' names (barcodes), or nil.
func (r *predicted) names() []string {
	if r.set.Names == nil {
		return nil
	}
	out := make([]string, len(r.rows))
	for i, row := range r.rows {
		out[i] = r.set.Names[row]
	}
	return out
}

// points is the NPZ or CSV predict writes: the predicted points in the
// model's coordinates (meta records the transform, so distance maps raw
// cells into them) or the input's (meta records only what the inverse
// does not undo: the choice of first columns, when --dims dropped some,
// and --normalize).
func (r *predicted) points(space string) (*snapshot.Set, error) {
	res := evaluate.ToSet(r.preds, r.set.D)
	res.Meta = r.set.Meta
	res.Names = r.names()
	if space == "model" || r.transform == nil {
		return res, nil
	}
	res.X, res.D = r.inInput(res.X), r.inputDim()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(res.Meta, &obj); err != nil {
		return nil, err
	}
	delete(obj, "transform")
	meta, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	res.Meta = meta
	// What remains between the raw cells and these points: the columns
	// kept and the normalisation, which the inverse does not undo.
	if kept := r.inputDim(); kept < r.transform.InputDim || r.transform.Normalize != nil {
		sel := &cells.Transform{InputDim: r.transform.InputDim, Normalize: r.transform.Normalize}
		if kept < r.transform.InputDim {
			sel.Dims = kept
		}
		if res.Meta, err = sel.RecordIn(res.Meta); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// annData is the AnnData predict writes for an .h5ad --out: one cell per
// predicted point, named as its source cell (its barcode, else its row in
// --data), with obs day (the predicted time's label), from_day and t; X
// the points in --space; obsm the predicted points and the one-step
// displacement in model coordinates (X_jkonet, jkonet_step) and, when the
// model has a transform, mapped back to the input's columns
// (X_jkonet_input, jkonet_step_input: for scVelo-style stream plots on
// that embedding); obs jkonet_V the potential of each cell's step (V at
// the step's target time, potential(t)) at the cell; uns jkonet the
// model's metadata as JSON.
func (r *predicted) annData(space string, potential func(t float64) models.Energy, info map[string]any) (*h5ad.AnnData, error) {
	n := len(r.rows)
	d := r.set.D
	names := r.names()
	if names == nil {
		names = make([]string, n)
		for i, row := range r.rows {
			names[i] = strconv.Itoa(row)
		}
	}
	src := r.sources()
	step := make([]float64, len(r.x))
	for i := range step {
		step[i] = r.x[i] - src[i]
	}
	a := &h5ad.AnnData{ObsNames: names, X: r.x, D: d}
	a.Obsm = []h5ad.Matrix{{Name: "X_jkonet", X: r.x, D: d}, {Name: "jkonet_step", X: step, D: d}}
	if r.transform != nil {
		in, k := r.inInput(r.x), r.inputDim()
		srcIn := r.inInput(src)
		stepIn := make([]float64, len(in))
		for i := range stepIn {
			stepIn[i] = in[i] - srcIn[i]
		}
		a.Obsm = append(a.Obsm, h5ad.Matrix{Name: "X_jkonet_input", X: in, D: k}, h5ad.Matrix{Name: "jkonet_step_input", X: stepIn, D: k})
		if space == "input" {
			a.X, a.D = in, k
		}
	}
	times := r.set.Times()
	label := func(t float64) string {
		for _, l := range snapshot.TimeLabels(r.set.Meta) {
			if l.T == t {
				return l.Label
			}
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	categories := make([]string, len(times))
	for k, t := range times {
		categories[k] = label(t)
	}
	codes := func(ts []float64) []int {
		c := make([]int, len(ts))
		for i, t := range ts {
			c[i] = slices.Index(times, t)
		}
		return c
	}
	a.Obs = []h5ad.Column{
		{Name: "day", Categories: categories, Codes: codes(r.t), Ordered: true},
		{Name: "from_day", Categories: categories, Codes: codes(r.from), Ordered: true},
		{Name: "t", Values: r.t},
	}
	if potential != nil {
		v := make([]float64, 0, n)
		at := 0
		for _, p := range r.preds {
			m := len(p.X) / d
			vals := make([]float64, m)
			potential(p.To).Eval(src[at*d:(at+m)*d], d, vals, nil)
			v = append(v, vals...)
			at += m
		}
		a.Obs = append(a.Obs, h5ad.Column{Name: "jkonet_V", Values: v})
	}
	info["space"] = space
	if r.transform != nil {
		info["transform"] = r.transform.Summary()
		info["input_columns"] = fmt.Sprintf("the first %d columns of the input", r.inputDim())
		var notes []string
		if r.transform.PCA != nil {
			notes = append(notes, "the PCA is inverted to its span: X_jkonet_input holds back-projections, not what the PCA dropped")
		}
		if r.transform.Normalize != nil {
			notes = append(notes, "--normalize is not inverted: X_jkonet_input holds log1p of counts scaled to the target sum")
		}
		if len(notes) > 0 {
			info["input_note"] = strings.Join(notes, "; ")
		}
	}
	if len(r.set.Meta) > 0 {
		info["meta"] = json.RawMessage(r.set.Meta)
	}
	raw, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	a.Uns = []h5ad.Text{{Name: "jkonet", Value: string(raw)}}
	return a, nil
}

// isAnnData reports whether path names an .h5ad file.
func isAnnData(path string) bool { return strings.EqualFold(filepath.Ext(path), ".h5ad") }
