package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// ebCells is a small AnnData file written by anndata 0.8: 1000
// embryoid-body cells, 200 a day over 5 days (obs "day", categorical),
// obsm X_pca their first 5 principal components (data/h5ad/testdata).
var ebCells = filepath.Join("..", "..", "data", "h5ad", "testdata", "eb_val_csr_pc5.h5ad")

var ebRead = []string{"--time-key", "day", "--obsm", "X_pca"}

// ebDays are the middle days of the sampling windows the labels name.
const ebDays = "Day 00-03=1.5,Day 06-09=7.5,Day 12-15=13.5,Day 18-21=19.5,Day 24-27=25.5"

func loadSet(t *testing.T, path string) *snapshot.Set {
	t.Helper()
	set, err := snapshot.Load(path, snapshot.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestCellsSplitByPopulation: the 60/40 protocol on h5ad input gives 80
// test and 120 training cells of every day, the raw obsm columns, and the
// same files for the same seed.
func TestCellsSplitByPopulation(t *testing.T) {
	dir := t.TempDir()
	split := func(seed, train, test string) {
		mustRun(t, slices.Concat([]string{"split", "--data", ebCells, "--by", "population", "--test-fraction", "0.4", "--seed", seed,
			"--train", filepath.Join(dir, train), "--test", filepath.Join(dir, test), "--quiet"}, ebRead)...)
	}
	split("3", "a_train.npz", "a_test.npz")
	split("3", "b_train.npz", "b_test.npz")
	split("4", "c_train.npz", "c_test.npz")
	train, test := loadSet(t, filepath.Join(dir, "a_train.npz")), loadSet(t, filepath.Join(dir, "a_test.npz"))
	if tr, err := cells.FromMeta(train.Meta); train.D != 5 || test.D != 5 || tr != nil || err != nil {
		t.Fatalf("split cells: d %d and %d, meta %s; want the 5 raw obsm columns", train.D, test.D, train.Meta)
	}
	// The day names go with the cells (info shows them).
	if got := test.Info().Labels; !slices.Equal(got, []string{"Day 00-03", "Day 06-09", "Day 12-15", "Day 18-21", "Day 24-27"}) {
		t.Errorf("split keeps the labels %q, want the five day windows", got)
	}
	if got := train.Info().Counts; !slices.Equal(got, []int{120, 120, 120, 120, 120}) {
		t.Errorf("training cells per day %v, want 120 each", got)
	}
	if got := test.Info().Counts; !slices.Equal(got, []int{80, 80, 80, 80, 80}) {
		t.Errorf("test cells per day %v, want 80 each", got)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read("a_train.npz"), read("b_train.npz")) || !bytes.Equal(read("a_test.npz"), read("b_test.npz")) {
		t.Error("the same seed gave different files")
	}
	if bytes.Equal(read("a_test.npz"), read("c_test.npz")) {
		t.Error("seeds 3 and 4 gave the same test cells")
	}
	// Every cell lands on exactly one side.
	all := loadSet(t, filepath.Join(dir, "c_train.npz"))
	other := loadSet(t, filepath.Join(dir, "c_test.npz"))
	if all.Len()+other.Len() != 1000 {
		t.Errorf("%d + %d cells, want 1000", all.Len(), other.Len())
	}
}

// TestCellsTrainEvalTransform walks the README's protocol: split raw cells,
// train with --dims and --standardize (fitted on the training cells), and
// eval on the raw test cells, which the stored transform maps: the record
// holds the training cells' mean and std (computed here independently),
// prepare --transform-from writes exactly (x − mean)/std, and eval gives
// the same numbers on the raw and on the prepared test cells.
func TestCellsTrainEvalTransform(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, slices.Concat([]string{"split", "--data", ebCells, "--by", "population", "--test-fraction", "0.4",
		"--train", path("train.npz"), "--test", path("test.npz"), "--quiet"}, ebRead)...)
	mustRun(t, "train", "--data", path("train.npz"), "--dims", "3", "--standardize", "--model", "time-potential",
		"--epochs", "3", "--device", "cpu", "--quiet", "--out", path("m.safetensors"))

	// The training cells' statistics, computed here.
	train := loadSet(t, path("train.npz"))
	mean, std := make([]float64, 3), make([]float64, 3)
	for i := range train.Len() {
		for j := range 3 {
			mean[j] += train.Row(i)[j] / float64(train.Len())
		}
	}
	for i := range train.Len() {
		for j := range 3 {
			std[j] += (train.Row(i)[j] - mean[j]) * (train.Row(i)[j] - mean[j]) / float64(train.Len())
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j])
	}
	f, err := modelfile.Load(path("m.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := modelTransform("m.safetensors", f)
	if err != nil || tr == nil || tr.InputDim != 5 || tr.Dims != 3 || tr.Scale == nil || tr.PCA != nil || f.Dim != 3 {
		t.Fatalf("model transform %+v (%v), model d %d", tr, err, f.Dim)
	}
	for j := range 3 {
		if !near(tr.Scale.Mean[j], mean[j], 1e-12) || !near(tr.Scale.Std[j], std[j], 1e-12) {
			t.Errorf("column %d: stored mean %v std %v, training cells' %v %v", j, tr.Scale.Mean[j], tr.Scale.Std[j], mean[j], std[j])
		}
	}
	// Checkpoints record it too.
	ck, err := modelfile.Load(path("m.safetensors.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if ckt, err := modelTransform("ckpt", ck); err != nil || ckt == nil || ckt.Dims != 3 {
		t.Fatalf("checkpoint transform %+v, %v", ckt, err)
	}

	mustRun(t, "prepare", "--data", path("test.npz"), "--transform-from", path("m.safetensors"), "--out", path("test_prepared.npz"), "--quiet")
	raw, prepared := loadSet(t, path("test.npz")), loadSet(t, path("test_prepared.npz"))
	if prepared.D != 3 || !slices.Equal(prepared.T, raw.T) {
		t.Fatalf("prepared test cells: d %d, times changed: %v", prepared.D, !slices.Equal(prepared.T, raw.T))
	}
	for i := range raw.Len() {
		for j := range 3 {
			if want := (raw.Row(i)[j] - mean[j]) / std[j]; !near(prepared.Row(i)[j], want, 1e-12) {
				t.Fatalf("prepared cell %d column %d: %v, want (x − training mean)/std = %v", i, j, prepared.Row(i)[j], want)
			}
		}
	}

	onRaw := mustRun(t, "eval", "--model", path("m.safetensors"), "--data", path("test.npz"), "--json")
	onPrepared := mustRun(t, "eval", "--model", path("m.safetensors"), "--data", path("test_prepared.npz"), "--json")
	if onRaw != onPrepared {
		t.Fatalf("eval differs on raw and prepared test cells:\n%s\n%s", onRaw, onPrepared)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(onRaw), &res); err != nil || len(res.Transitions) != 4 || !(res.Baselines["no_motion"].Mean > 0) {
		t.Fatalf("eval JSON %s: %v", onRaw, err)
	}
	// The explicit flags that name the model's transform are accepted; others refused.
	mustRun(t, "eval", "--model", path("m.safetensors"), "--data", path("test.npz"), "--dims", "3", "--standardize", "--json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", path("m.safetensors"), "--data", path("test.npz"), "--pca", "3"}, "records --dims 3 --standardize, not --pca 3"},
		{[]string{"predict", "--model", path("m.safetensors"), "--data", path("test.npz"), "--dims", "2", "--out", path("p.npz")}, "records --dims 3 --standardize, not --dims 2"},
		{[]string{"train", "--data", path("test_prepared.npz"), "--standardize", "--model", "potential", "--epochs", "1", "--out", path("m2.safetensors")}, "already transformed (--dims 3 --standardize"},
	} {
		mustFail(t, dir, []string{"train.npz", "test.npz", "m.safetensors", "m.safetensors.ckpt", "test_prepared.npz"}, tc.want, tc.args...)
	}
}

// TestCellsTrainOnH5ad runs the command on the AnnData file itself
// and evaluates on the raw cells of the same file, read with the same flags.
func TestCellsTrainOnH5ad(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, slices.Concat([]string{"train", "--data", ebCells, "--dims", "5", "--standardize", "--model", "time-potential",
		"--epochs", "2", "--device", "cpu", "--checkpoint-every", "0", "--quiet", "--out", model}, ebRead)...)
	out := mustRun(t, slices.Concat([]string{"eval", "--model", model, "--data", ebCells, "--json"}, ebRead)...)
	var res evalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Transitions) != 4 {
		t.Fatalf("eval JSON %s: %v", out, err)
	}
	// Real times: the labels' days, τ in units of their mean spacing.
	dayModel := filepath.Join(dir, "days.safetensors")
	mustRun(t, slices.Concat([]string{"train", "--data", ebCells, "--time-values", ebDays, "--dims", "2", "--model", "potential",
		"--epochs", "1", "--device", "cpu", "--checkpoint-every", "0", "--quiet", "--out", dayModel}, ebRead)...)
	f, err := modelfile.Load(dayModel)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Times, []float64{1.5, 7.5, 13.5, 19.5, 25.5}) || f.MeanInterval != 6 {
		t.Errorf("model times %v, mean interval %v; want the days of --time-values, 6 days apart", f.Times, f.MeanInterval)
	}
	// Held-out cells labelled 0..4 against a model trained on days: a
	// warning names the times, since every τ would be wrong.
	_, _, errOut := jk(t, slices.Concat([]string{"eval", "--model", dayModel, "--data", ebCells, "--json"}, ebRead)...)
	if !strings.Contains(errOut, "warning: "+ebCells+" has times [0 1 2 3 4] that "+dayModel+" was not trained at") {
		t.Errorf("eval on other labels: stderr %q lacks the warning", errOut)
	}
	if _, _, errOut = jk(t, slices.Concat([]string{"eval", "--model", dayModel, "--data", ebCells, "--time-values", ebDays}, ebRead)...); strings.Contains(errOut, "warning") {
		t.Errorf("eval on the training labels warned: %q", errOut)
	}
	info := mustRun(t, slices.Concat([]string{"info", "--data", ebCells, "--time-values", ebDays, "--pca", "2"}, ebRead)...)
	for _, want := range []string{"d = 2", "t = 19.5", "transform: --pca 2 (d = 5 → 2); PCA (exact) fitted on 1000 cells keeps"} {
		if !strings.Contains(info, want) {
			t.Errorf("info output lacks %q:\n%s", want, info)
		}
	}
}

// TestCellFlagsOnOtherFormats: --time-values maps NPZ and CSV labels;
// --x-key and --time-key name NPZ arrays; the AnnData-only flags are
// refused for NPZ and CSV, --time-col and --x-key for h5ad.
func TestCellFlagsOnOtherFormats(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "cells.npz")
	set := &snapshot.Set{D: 2, X: []float64{0, 0, 1, 0, 0, 1, 1, 1, 2, 2, 3, 1}, T: []float64{0, 0, 0.5, 0.5, 2, 2}}
	if err := set.Save(data); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "mapped.npz")
	mustRun(t, "prepare", "--data", data, "--time-values", "0=0, 0.5=0.333, 2=1, 9=7", "--out", out, "--quiet")
	if got := loadSet(t, out).T; !slices.Equal(got, []float64{0, 0, 0.333, 0.333, 1, 1}) {
		t.Fatalf("mapped times %v", got)
	}
	keep := []string{"cells.npz", "mapped.npz"}
	mustFail(t, dir, keep, `no time for the label "2" (the data's labels: 0, 0.5, 2)`, "info", "--data", data, "--time-values", "0=0,0.5=1")
	mustFail(t, dir, keep, `--time-values: label "b": expected a finite number, got "x"`, "info", "--data", data, "--time-values", "a=1,b=x")
	for _, flag := range []string{"--time-order", "--obsm", "--layer"} {
		mustFail(t, dir, keep, flag+" is for AnnData (.h5ad) input", "info", "--data", data, flag, "day")
	}
	// NPZ files of other tools name their arrays otherwise: --x-key and
	// --time-key pick them, and a missing one is named with the arrays present.
	other := filepath.Join(dir, "other.npz")
	if err := npz.WriteFile(other, npz.Archive{
		{Name: "X", Array: npz.FromFloat64([]int{4, 1}, []float64{1, 2, 3, 4})},
		{Name: "ts", Array: npz.FromInt64([]int{4}, []int64{0, 0, 1, 1})},
	}); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, "other.npz")
	if got := loadSetWith(t, other, "--x-key", "X", "--time-key", "ts"); !slices.Equal(got.X, []float64{1, 2, 3, 4}) || !slices.Equal(got.T, []float64{0, 0, 1, 1}) {
		t.Fatalf("--x-key X --time-key ts read x %v, t %v", got.X, got.T)
	}
	mustFail(t, dir, keep, `field "x": missing (expected an M×d float array of points; the file has X, ts)`, "info", "--data", other)
	mustFail(t, dir, keep, `field "day": missing (expected one time label per row of X; the file has X, ts)`, "info", "--data", other, "--x-key", "X", "--time-key", "day")
	mustFail(t, dir, keep, "--x-key is for NPZ input", "info", "--data", ebCells, "--time-key", "day", "--x-key", "X")
	mustFail(t, dir, keep, "--time-col is for CSV input; name the obs column of an h5ad file with --time-key", "info", "--data", ebCells, "--time-col", "day")
	mustFail(t, dir, keep, "name it with --time-key", "info", "--data", ebCells)
	mustFail(t, dir, keep, "--dims 3: the cells have only 2 columns", "train", "--data", data, "--dims", "3", "--out", filepath.Join(dir, "m.safetensors"))
	constant := &snapshot.Set{D: 2, X: []float64{0, 5, 1, 5, 2, 5, 3, 5}, T: []float64{0, 0, 1, 1}}
	if err := constant.Save(data); err != nil {
		t.Fatal(err)
	}
	mustFail(t, dir, keep, "--standardize: column 2 has standard deviation 0 over the 4 training cells", "prepare", "--data", data, "--standardize", "--out", filepath.Join(dir, "p.npz"))
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*max(1, math.Abs(b)) }

// TestNoOracleInTransformedCoordinates: generated data carry their true
// energy, which lives in the generator's coordinates; a model trained with
// --standardize is scored in the transform's, where that energy means
// nothing, so eval reports no oracle for it (it used to).
func TestNoOracleInTransformedCoordinates(t *testing.T) {
	dir := t.TempDir()
	train, test := smallRun(t, dir)
	for _, tc := range []struct {
		flags  []string
		oracle bool
	}{{nil, true}, {[]string{"--standardize"}, false}} {
		model := filepath.Join(dir, fmt.Sprintf("m%v.safetensors", tc.oracle))
		mustRun(t, slices.Concat([]string{"train", "--data", train, "--model", "potential", "--epochs", "1", "--batch-size", "50",
			"--checkpoint-every", "0", "--quiet", "--out", model}, tc.flags)...)
		var res evalResult
		if err := json.Unmarshal([]byte(mustRun(t, "eval", "--model", model, "--data", test, "--json")), &res); err != nil {
			t.Fatal(err)
		}
		if _, has := res.Baselines["oracle"]; has != tc.oracle {
			t.Errorf("train flags %v: oracle reported %v, want %v", tc.flags, has, tc.oracle)
		}
	}
}

// loadSetWith reads path as the CLI does with the cell flags given, through
// prepare.
func loadSetWith(t *testing.T, path string, flags ...string) *snapshot.Set {
	t.Helper()
	out := filepath.Join(t.TempDir(), "read.npz")
	mustRun(t, slices.Concat([]string{"prepare", "--data", path, "--quiet", "--out", out}, flags)...)
	return loadSet(t, out)
}
