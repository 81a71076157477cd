package cells

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// The fixtures: AnnData files of package h5ad (dense.h5ad: 30 cells, d = 4,
// obs columns stage (early, mid, late, cycling), label (d0, d1, d2) and
// hours) and an NPZ of other tools' layout (x float32 3×2, t 0, 0, 1).
const (
	annData = "../h5ad/testdata/dense.h5ad"
	npzFile = "../../testdata/npz/snapshot_variants.npz"
)

// writeCSV writes a small CSV of cells at times 0 and 1 in d = 2.
func writeCSV(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cells.csv")
	if err := os.WriteFile(path, []byte("day,a,b\n0,1,2\n0,3,4\n1,5,6\n1,7,8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags is a Given that reports the flags named, as the CLI's IsSet does.
func flags(names ...string) func(string) bool {
	return func(flag string) bool { return slices.Contains(names, flag) }
}

// TestReadRefusesOptionsOfOtherFormats pins each refusal, byte for byte:
// the CLI prints these errors as they are.
func TestReadRefusesOptionsOfOtherFormats(t *testing.T) {
	csv := writeCSV(t)
	cases := []struct {
		path string
		opts ReadOptions
		want string
	}{
		{annData, ReadOptions{TimeKey: "stage", TimeCol: "day"}, annData + ": --time-col is for CSV input; name the obs column of an h5ad file with --time-key"},
		{annData, ReadOptions{TimeKey: "stage", XKey: "X"}, annData + ": --x-key is for NPZ input; take an h5ad file's coordinates from --obsm or --layer"},
		{annData, ReadOptions{}, annData + ": no time key given (the obs column holding each cell's time); name it with --time-key"},
		{npzFile, ReadOptions{TimeOrder: []string{"a", "b"}}, npzFile + ": --time-order is for AnnData (.h5ad) input"},
		{npzFile, ReadOptions{Obsm: "X_pca"}, npzFile + ": --obsm is for AnnData (.h5ad) input"},
		{csv, ReadOptions{Layer: "counts"}, csv + ": --layer is for AnnData (.h5ad) input"},
		{csv, ReadOptions{TimeKey: "day"}, csv + ": --time-key and --x-key name NPZ arrays or h5ad keys; a CSV file's time column is --time-col"},
		{csv, ReadOptions{TimeCol: "day", XKey: "x"}, csv + ": --time-key and --x-key name NPZ arrays or h5ad keys; a CSV file's time column is --time-col"},
		// Given: a flag given with the default or an empty value is refused
		// all the same.
		{annData, ReadOptions{TimeKey: "stage", TimeCol: "t", Given: flags("time-key", "time-col")}, annData + ": --time-col is for CSV input; name the obs column of an h5ad file with --time-key"},
		{npzFile, ReadOptions{Given: flags("layer")}, npzFile + ": --layer is for AnnData (.h5ad) input"},
		// With --time-key given, the h5ad reader's error stands alone.
		{annData, ReadOptions{Given: flags("time-key")}, annData + ": no time key given (the obs column holding each cell's time)"},
	}
	for _, c := range cases {
		set, err := Read(c.path, c.opts)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %+v: set %v, error %v, want %q", c.path, c.opts, set != nil, err, c.want)
		}
	}
}

func TestReadEachFormat(t *testing.T) {
	set, err := Read(annData, ReadOptions{TimeKey: "label", TimeOrder: ParseTimeOrder("d0, d1 ,d2"), Obsm: "X_pca"})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 30 || set.D != 2 || !slices.Equal(set.Times(), []float64{0, 1, 2}) {
		t.Errorf("h5ad: %d cells in d = %d at %v, want 30 in d = 2 at 0, 1, 2", set.Len(), set.D, set.Times())
	}
	set, err = Read(npzFile, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.X, []float64{0.5, 1, 2, -3, 0.25, 4}) || !slices.Equal(set.T, []float64{0, 0, 1}) {
		t.Errorf("npz: x %v, t %v", set.X, set.T)
	}
	set, err = Read(writeCSV(t), ReadOptions{TimeCol: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.X, []float64{1, 2, 3, 4, 5, 6, 7, 8}) || !slices.Equal(set.T, []float64{0, 0, 1, 1}) {
		t.Errorf("csv: x %v, t %v", set.X, set.T)
	}
	if _, err := Read(npzFile, ReadOptions{XKey: "X"}); err == nil || err.Error() != npzFile+`: field "X": missing (expected an M×d float array of points; the file has x, t, id, dt, meta)` {
		t.Errorf("npz without X: %v", err)
	}
}

// TestReadTimeValues maps the labels of every format to real times.
func TestReadTimeValues(t *testing.T) {
	values := map[string]float64{"0": 0.5, "1": 2, "unused": 9}
	for _, c := range []struct {
		path string
		opts ReadOptions
	}{
		{npzFile, ReadOptions{TimeValues: values}},
		{writeCSV(t), ReadOptions{TimeCol: "day", TimeValues: values}},
	} {
		set, err := Read(c.path, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := set.Times(); !slices.Equal(got, []float64{0.5, 2}) {
			t.Errorf("%s: times %v, want 0.5, 2", c.path, got)
		}
	}
	set, err := Read(annData, ReadOptions{TimeKey: "stage", TimeValues: map[string]float64{"early": 0, "mid": 0.25, "late": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Times(); !slices.Equal(got, []float64{0, 0.25, 1}) {
		t.Errorf("h5ad: times %v, want 0, 0.25, 1", got)
	}

	_, err = Read(npzFile, ReadOptions{TimeValues: map[string]float64{"0": 0}})
	if want := npzFile + `: --time-values: no time for the label "1" (the data's labels: 0, 1)`; err == nil || err.Error() != want {
		t.Errorf("unmapped label: %v, want %q", err, want)
	}
	_, err = Read(npzFile, ReadOptions{TimeValues: map[string]float64{"0": -1e308, "1": 1e308}})
	if want := npzFile + `: after --time-values: field "t": expected time labels whose range is a finite number, got -1e+308 to 1e+308 (rescale the times)`; err == nil || err.Error() != want {
		t.Errorf("infinite span: %v, want %q", err, want)
	}
}

// prepared writes the cells of path transformed by opts, as prepare does,
// and returns the file and the transform it records.
func prepared(t *testing.T, path string, opts ReadOptions) (string, *Transform) {
	t.Helper()
	set, err := Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "prepared.npz")
	if err := set.Save(out); err != nil {
		t.Fatal(err)
	}
	tr, err := Recorded(out, set)
	if err != nil || tr == nil {
		t.Fatalf("Recorded: %v, %v", tr, err)
	}
	return out, tr
}

// TestLoadFitsAndRecordsTheTransform: Load fits the transform on the cells
// it reads, the result records it, and a prepared file is not transformed
// a second time.
func TestLoadFitsAndRecordsTheTransform(t *testing.T) {
	opts := ReadOptions{TimeKey: "stage", Transform: Options{Dims: 3, PCA: 2, Standardize: true}}
	raw, err := Read(annData, opts)
	if err != nil {
		t.Fatal(err)
	}
	path, tr := prepared(t, annData, opts)
	if tr.Options() != opts.Transform || tr.InputDim != 4 || tr.OutputDim() != 2 {
		t.Errorf("recorded %+v (options %s), want %s from d = 4 to 2", tr, tr.Options(), opts.Transform)
	}
	fitted, err := Fit(raw, opts.Transform)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(fitted, tr) {
		t.Errorf("Load fitted other numbers than Fit on the cells Read gives")
	}

	again, err := Load(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.D != 2 {
		t.Errorf("a prepared file loads in d = %d, want 2", again.D)
	}
	_, err = Load(path, ReadOptions{Transform: Options{Standardize: true}})
	if want := path + ": the cells are already transformed (--dims 3 --pca 2 --standardize, recorded in its meta); give the raw cells or drop --standardize"; err == nil || err.Error() != want {
		t.Errorf("second transform: %v, want %q", err, want)
	}
	_, err = Load(annData, ReadOptions{TimeKey: "stage", Transform: Options{Dims: 5}})
	if err == nil || !strings.HasPrefix(err.Error(), annData+": --dims") {
		t.Errorf("--dims 5 of 4 columns: %v, want an error naming the file", err)
	}

	// A meta whose transform does not give the file's dimension.
	bad := *again
	bad.D, bad.X = 1, again.X[:again.Len()]
	if _, err := Recorded("bad.npz", &bad); err == nil || err.Error() != `bad.npz: field "meta": the recorded transform gives d = 2, but x has d = 1` {
		t.Errorf("Recorded with the wrong d: %v", err)
	}
}

// TestMapRecorded maps held-out cells with a recorded transform: raw cells
// get it, cells that record it pass as they are, anything else is refused.
func TestMapRecorded(t *testing.T) {
	opts := ReadOptions{TimeKey: "stage", Transform: Options{Dims: 2, Standardize: true}}
	path, tr := prepared(t, annData, opts)
	raw, err := Read(annData, ReadOptions{TimeKey: "stage"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := tr.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, asked := range []Options{{}, opts.Transform} {
		got, err := MapRecorded(annData, raw, "m.safetensors", tr, asked)
		if err != nil || !slices.Equal(got.X, want.X) || !slices.Equal(got.Meta, want.Meta) {
			t.Errorf("raw cells, asked %s: error %v, or not mapped by the recorded transform", asked, err)
		}
	}
	done, err := Read(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := MapRecorded(path, done, "m.safetensors", tr, Options{}); err != nil || got != done {
		t.Errorf("cells that record the same transform: %v, want them as they are", err)
	}
	if got, err := MapRecorded(annData, raw, "m.safetensors", nil, Options{}); err != nil || got != raw {
		t.Errorf("no transform recorded: %v, want the cells as they are", err)
	}

	other, err := Fit(raw, Options{Dims: 2})
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		set    *snapshot.Set
		path   string
		t      *Transform
		asked  Options
		reason string
	}{
		{raw, annData, tr, Options{PCA: 2}, "m.safetensors: records --dims 2 --standardize, not --pca 2; drop the flags (the recorded transform is applied to raw cells)"},
		{raw, annData, nil, Options{Dims: 2}, "m.safetensors: records no transform, not --dims 2; drop the flags (the recorded transform is applied to raw cells)"},
		{done, path, other, Options{}, path + ": the cells were transformed (--dims 2 --standardize) with other numbers than m.safetensors records (--dims 2); give the raw cells"},
		{done, path, nil, Options{}, path + ": the cells were transformed (--dims 2 --standardize) with other numbers than m.safetensors records (no transform); give the raw cells"},
	}
	for _, r := range refusals {
		if _, err := MapRecorded(r.path, r.set, "m.safetensors", r.t, r.asked); err == nil || err.Error() != r.reason {
			t.Errorf("error %v, want %q", err, r.reason)
		}
	}
}
