package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/h5ad"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// TestResultsBackInAnnData follows the anndata-written days.h5ad through
// split, train, predict --space input and predict --out .h5ad: barcodes
// stay with their cells, the input-space points are the model's mapped
// back exactly (--dims, --standardize), and the .h5ad holds the cells
// under their barcodes with their day names, in both coordinates.
func TestResultsBackInAnnData(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	source, err := h5ad.Load(daysCells, h5ad.Options{TimeKey: "day", Obsm: "X_pca"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]float64{}
	for i, name := range source.Names {
		byName[name] = source.Row(i)
	}
	mustRun(t, "split", "--data", daysCells, "--time-key", "day", "--obsm", "X_pca", "--by", "population", "--test-fraction", "0.4",
		"--train", at("train.npz"), "--test", at("test.npz"), "--quiet")
	test := loadSet(t, at("test.npz"))
	if len(test.Names) != test.Len() {
		t.Fatalf("split kept %d names for %d test cells", len(test.Names), test.Len())
	}
	for i, name := range test.Names {
		if !reflect.DeepEqual(byName[name], test.Row(i)) {
			t.Fatalf("test cell %d is named %q but holds %v, which the source holds under that barcode as %v", i, name, test.Row(i), byName[name])
		}
	}

	mustRun(t, "train", "--data", at("train.npz"), "--dims", "3", "--standardize", "--model", "linear-potential", "--out", at("m.safetensors"), "--quiet")
	predict := []string{"predict", "--model", at("m.safetensors"), "--data", at("test.npz"), "--quiet"}
	mustRun(t, append(predict, "--out", at("model.npz"))...)
	mustRun(t, append(predict, "--out", at("input.npz"), "--space", "input")...)
	mustRun(t, append(predict, "--out", at("p.h5ad"))...)
	model, input := loadSet(t, at("model.npz")), loadSet(t, at("input.npz"))
	tr, err := cells.FromMeta(model.Meta)
	if err != nil || tr == nil || tr.Scale == nil {
		t.Fatalf("predictions record the transform %v (%v)", tr, err)
	}
	if input.D != 3 || input.Len() != model.Len() || !slices.Equal(input.Names, model.Names) || !slices.Equal(input.T, model.T) {
		t.Fatalf("--space input: d = %d, %d rows (model: %d), names or times differ", input.D, input.Len(), model.Len())
	}
	for i, y := range model.X {
		j := i % 3
		if want := y*tr.Scale.Std[j] + tr.Scale.Mean[j]; math.Abs(input.X[i]-want) > 1e-12*(1+math.Abs(want)) {
			t.Fatalf("--space input value %d = %v, want %v (z-score undone)", i, input.X[i], want)
		}
	}
	if sel, err := cells.FromMeta(input.Meta); err != nil || sel == nil || sel.Options() != (cells.Options{Dims: 3}) || sel.InputDim != 5 {
		t.Errorf("--space input records %+v (%v), want the first 3 of 5 columns", sel, err)
	}
	// Every prediction starts from a test cell of an earlier day: its
	// barcode, its source day's successor.
	for i, name := range model.Names {
		if _, ok := byName[name]; !ok {
			t.Fatalf("prediction %d is named %q, not a barcode of the source", i, name)
		}
	}

	back, err := h5ad.Load(at("p.h5ad"), h5ad.Options{TimeKey: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Names, model.Names) || !slices.Equal(back.T, model.T) || !slices.Equal(back.X, model.X) {
		t.Errorf("p.h5ad: names, times (from the day names) or X differ from predict's NPZ")
	}
	back, err = h5ad.Load(at("p.h5ad"), h5ad.Options{TimeKey: "day", Obsm: "X_jkonet_input"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.X, input.X) {
		t.Errorf("p.h5ad obsm X_jkonet_input differs from predict --space input")
	}

	if exec.Command("/usr/bin/python3", "-c", "import anndata").Run() != nil {
		t.Skip("python3-anndata is not installed: the pure-Go round trip passed")
	}
	const script = `
import anndata, json, sys
import numpy as np
a = anndata.read_h5ad(sys.argv[1])
src = {n: i for i, n in enumerate(a.obs_names)}
print(json.dumps({
    "n": a.n_obs, "names": list(a.obs_names), "columns": list(a.obs.columns),
    "categories": list(a.obs["day"].cat.categories), "day": [str(v) for v in a.obs["day"]],
    "from": [str(v) for v in a.obs["from_day"]],
    "obsm": {k: list(a.obsm[k].shape) for k in sorted(a.obsm.keys())},
    "uns": json.loads(a.uns["jkonet"])["space"], "v": a.obs["jkonet_V"].tolist(),
}))`
	out, err := exec.Command("/usr/bin/python3", "-c", script, at("p.h5ad")).Output()
	if err != nil {
		t.Fatalf("anndata cannot read predict's .h5ad: %v", err)
	}
	var got struct {
		N          int
		Names      []string
		Columns    []string
		Categories []string
		Day, From  []string
		Obsm       map[string][]int
		Uns        string
		V          []float64
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// V at each source cell, as predict steps with it (at the target time).
	f, err := modelfile.Load(at("m.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := evaluate.FromFile(f, evaluate.DefaultPredictOptions())
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := tr.Apply(test)
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]int{}
	for i, name := range mapped.Names {
		row[name] = i
	}
	if len(got.V) != model.Len() {
		t.Fatalf("obs jkonet_V has %d values for %d cells", len(got.V), model.Len())
	}
	for i, name := range model.Names {
		v := make([]float64, 1)
		o := subject.Options
		subject.Model.PotentialAt((model.T[i]-o.TimeOrigin)/o.MeanInterval).Eval(mapped.Row(row[name]), 3, v, nil)
		if math.Abs(got.V[i]-v[0]) > 1e-12*(1+math.Abs(v[0])) {
			t.Fatalf("cell %s: jkonet_V = %v, want V(cell) = %v", name, got.V[i], v[0])
		}
	}
	if got.N != model.Len() || !slices.Equal(got.Names, model.Names) {
		t.Errorf("anndata reads %d cells named %v…, want predict's %d", got.N, got.Names[:min(3, len(got.Names))], model.Len())
	}
	if want := []string{"D0", "D2", "D4", "D6", "D10"}; !slices.Equal(got.Categories, want) || !slices.Equal(got.Columns, []string{"day", "from_day", "t", "jkonet_V"}) {
		t.Errorf("anndata reads columns %v, day categories %v; want day, from_day, t, jkonet_V and %v", got.Columns, got.Categories, want)
	}
	next := map[string]string{"D0": "D2", "D2": "D4", "D4": "D6", "D6": "D10"}
	for i := range got.Day {
		if next[got.From[i]] != got.Day[i] {
			t.Fatalf("cell %d predicted from %s to %s", i, got.From[i], got.Day[i])
		}
	}
	n := model.Len()
	want := map[string][]int{"X_jkonet": {n, 3}, "jkonet_step": {n, 3}, "X_jkonet_input": {n, 3}, "jkonet_step_input": {n, 3}}
	if !reflect.DeepEqual(got.Obsm, want) || got.Uns != "model" {
		t.Errorf("anndata reads obsm shapes %v and uns space %q, want %v and model", got.Obsm, got.Uns, want)
	}
}

// TestNormalizeCLI: --normalize --pca on raw counts takes no warning, is
// stored with the model, and predict --space input gives points in the
// log-normalised genes that distance measures against the raw test cells.
func TestNormalizeCLI(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	status, _, errOut := jk(t, "info", "--data", daysCells, "--time-key", "day_num", "--normalize", "--pca", "3")
	if status != 0 || errOut != "" {
		t.Errorf("info --normalize --pca 3 on counts: status %d, stderr %q, want no note", status, errOut)
	}
	mustRun(t, "split", "--data", daysCells, "--time-key", "day_num", "--by", "population", "--test-fraction", "0.4",
		"--train", at("train.npz"), "--test", at("test.npz"), "--quiet")
	mustRun(t, "train", "--data", at("train.npz"), "--normalize", "--pca", "2", "--model", "linear-potential", "--out", at("m.safetensors"), "--quiet")
	mustRun(t, "predict", "--model", at("m.safetensors"), "--data", at("test.npz"), "--space", "input", "--out", at("p.npz"), "--quiet")
	p := loadSet(t, at("p.npz"))
	sel, err := cells.FromMeta(p.Meta)
	if p.D != 120 || err != nil || sel == nil || sel.Options() != (cells.Options{Normalize: true}) {
		t.Fatalf("--space input after --normalize --pca 2: d = %d, records %+v (%v); want 120 columns and --normalize", p.D, sel, err)
	}
	status, out, errOut := jk(t, "distance", "--a", at("p.npz"), "--b", at("test.npz"))
	if status != 0 || len(out) < 5 || out[:5] != "W1 = " {
		t.Errorf("distance against the raw test cells: status %d, stdout %q, stderr %q", status, out, errOut)
	}
}
