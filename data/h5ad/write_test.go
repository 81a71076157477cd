package h5ad

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// written is a small AnnData: 4 cells with barcodes, day names out of text
// order (D2 before D10), two obsm matrices and a string in uns.
func written() *AnnData {
	return &AnnData{
		ObsNames: []string{"AAAC-1", "AAAG-1", "AACT-1", "ACGT-1"},
		X:        []float64{1, 2, 3, 4, 5, 6, 7, 8.5},
		D:        2,
		VarNames: []string{"PC1", "PC2"},
		Obs: []Column{
			{Name: "day", Categories: []string{"D2", "D10"}, Codes: []int{0, 1, 0, 1}, Ordered: true},
			{Name: "t", Values: []float64{2, 10, 2, 10}},
		},
		Obsm: []Matrix{
			{Name: "X_model", X: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12}, D: 3},
			{Name: "velocity", X: []float64{0.5, 0, 0, 0.25, -1, 1, 1e-3, 2}, D: 2},
		},
		Uns: []Text{{Name: "jkonet", Value: `{"model":"m.safetensors","τ":0.5}`}},
	}
}

// TestWriteReadBack reads a written file with this package's reader: the
// cells, their times from the day names and their barcodes come back.
func TestWriteReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.h5ad")
	if err := Write(path, written()); err != nil {
		t.Fatal(err)
	}
	set, err := Load(path, Options{TimeKey: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 2, 3, 4, 5, 6, 7, 8.5}; !reflect.DeepEqual(set.X, want) || set.D != 2 {
		t.Errorf("X = %v (d = %d), want %v", set.X, set.D, want)
	}
	if want := []float64{2, 10, 2, 10}; !reflect.DeepEqual(set.T, want) {
		t.Errorf("T = %v, want %v", set.T, want)
	}
	if want := written().ObsNames; !reflect.DeepEqual(set.Names, want) {
		t.Errorf("Names = %v, want %v", set.Names, want)
	}
	set, err = Load(path, Options{TimeKey: "t", Obsm: "X_model"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12}; !reflect.DeepEqual(set.X, want) || set.D != 3 {
		t.Errorf("obsm X_model = %v (d = %d), want %v", set.X, set.D, want)
	}
}

// TestWriteReadByAnndata opens a written file with Debian's anndata
// (python3-anndata) and compares what it sees, value for value.
func TestWriteReadByAnndata(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import anndata").Run() != nil {
		t.Skip("python3-anndata is not installed")
	}
	path := filepath.Join(t.TempDir(), "w.h5ad")
	if err := Write(path, written()); err != nil {
		t.Fatal(err)
	}
	const script = `
import anndata, json, sys
a = anndata.read_h5ad(sys.argv[1])
print(json.dumps({
    "shape": list(a.shape), "obs_names": list(a.obs_names), "var_names": list(a.var_names),
    "columns": list(a.obs.columns), "X": a.X.tolist(),
    "day": [str(v) for v in a.obs["day"]], "categories": list(a.obs["day"].cat.categories),
    "ordered": bool(a.obs["day"].cat.ordered), "t": a.obs["t"].tolist(),
    "obsm": {k: a.obsm[k].tolist() for k in sorted(a.obsm.keys())}, "uns": a.uns["jkonet"],
}))`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("anndata cannot read the file: %v\n%s", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a := written()
	want := map[string]any{
		"shape": []any{4.0, 2.0}, "obs_names": strs(a.ObsNames), "var_names": strs(a.VarNames),
		"columns": []any{"day", "t"}, "X": rows(a.X, 2),
		"day": []any{"D2", "D10", "D2", "D10"}, "categories": []any{"D2", "D10"},
		"ordered": true, "t": []any{2.0, 10.0, 2.0, 10.0},
		"obsm": map[string]any{"X_model": rows(a.Obsm[0].X, 3), "velocity": rows(a.Obsm[1].X, 2)},
		"uns":  a.Uns[0].Value,
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("anndata reads %s = %v, want %v", k, got[k], w)
		}
	}
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func rows(x []float64, d int) []any {
	var out []any
	for i := 0; i < len(x); i += d {
		var r []any
		for _, v := range x[i : i+d] {
			r = append(r, v)
		}
		out = append(out, r)
	}
	return out
}

// TestWriteRefusesBadShapes: a field of the wrong length is refused in one
// line naming it, and no file is left.
func TestWriteRefusesBadShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*AnnData)
		want string
	}{
		"names":    {func(a *AnnData) { a.ObsNames = a.ObsNames[:3] }, "obs names: expected 4"},
		"codes":    {func(a *AnnData) { a.Obs[0].Codes[2] = 2 }, `obs column "day": row 2 has code 2`},
		"values":   {func(a *AnnData) { a.Obs[1].Values = nil }, `obs column "t": expected 4 values`},
		"obsm":     {func(a *AnnData) { a.Obsm[0].D = 2 }, `obsm "X_model": expected 4 rows of 2 columns`},
		"X":        {func(a *AnnData) { a.X = a.X[:7] }, "X: expected rows of 2 columns"},
		"twice":    {func(a *AnnData) { a.Obs[1].Name = "day" }, `obs column "day": named twice`},
		"obsmname": {func(a *AnnData) { a.Obsm[1].Name = "X_model" }, `"X_model" is named twice in obsm`},
	} {
		t.Run(name, func(t *testing.T) {
			a := written()
			tc.edit(a)
			path := filepath.Join(t.TempDir(), "w.h5ad")
			err := Write(path, a)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a file was left at %s", path)
			}
		})
	}
}

// TestLoadKeepsBarcodes: the obs index of an anndata-written file (named
// "barcode", so found through obs's _index attribute) becomes the names.
func TestLoadKeepsBarcodes(t *testing.T) {
	set, err := Load("testdata/days.h5ad", Options{TimeKey: "day", Obsm: "X_pca"})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Names) != 150 {
		t.Fatalf("got %d names, want the 150 barcodes", len(set.Names))
	}
	if got := []string{set.Names[0], set.Names[1], set.Names[149]}; !reflect.DeepEqual(got, barcodes) {
		t.Errorf("names %v, want %v (as anndata reads them)", got, barcodes)
	}
}

// barcodes are the first, second and last obs names of testdata/days.h5ad.
var barcodes = []string{"GTTCTTTCTTTCGTAA-1", "TCTAAAGGTGCCTGAT-1", "TATCTACCTGGGGCCG-1"}
