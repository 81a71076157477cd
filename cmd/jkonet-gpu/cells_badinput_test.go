package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// h5adFixtures are the AnnData files of data/h5ad/testdata (written by
// anndata with data/h5ad/testdata/make_fixtures.py) that the bad-input
// corpus copies.
var h5adFixtures = map[string]string{
	"cells.h5ad":       "dense.h5ad",       // valid: 30 cells, X 30×4, obs day/stage/constant…, obsm X_pca
	"not_anndata.h5ad": "not_anndata.h5ad", // an HDF5 file with one dataset
	"x_nan.h5ad":       "nan.h5ad",         // X holds NaN at row 3, column 2
}

// cellBadCorpus adds the corpus's single-cell files to badCorpus: copies of
// the h5ad fixtures, and 3 cells in d = 6 (fewer cells than --pca 4 asks
// components for).
func cellBadCorpus(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	for name, fixture := range h5adFixtures {
		b, err := os.ReadFile(filepath.Join("..", "..", "data", "h5ad", "testdata", fixture))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	var x []float64
	for i := range 3 * 6 {
		x = append(x, float64(i*i%7))
	}
	files["three_cells_d6.npz"] = snapshotNPZ(x, 6, []float64{0, 1, 1}, []int64{0, 1, 2})
	return files
}

// cellCommands are the commands that read cells with the cell flags, and
// whether they fit a transform on them (the others apply a model's).
var cellCommands = []struct {
	name string
	args []string
	fits bool
}{
	{"info", []string{"info", "--data", "{bad}"}, true},
	{"split", []string{"split", "--data", "{bad}", "--by", "population", "--train", "{out}/train.npz", "--test", "{out}/test.npz", "--quiet"}, false},
	{"preprocess", []string{"preprocess", "--data", "{bad}", "--out", "{out}/c.npz", "--quiet"}, true},
	{"train", []string{"train", "--data", "{bad}", "--model", "potential", "--epochs", "1", "--device", "cpu", "--quiet", "--out", "{out}/m.safetensors"}, true},
	{"prepare", []string{"prepare", "--data", "{bad}", "--out", "{out}/p.npz", "--quiet"}, true},
	{"predict", []string{"predict", "--model", "{model}", "--data", "{bad}", "--quiet", "--out", "{out}/p.npz"}, false},
	{"eval", []string{"eval", "--model", "{model}", "--data", "{bad}", "--json"}, false},
	{"plot", []string{"plot", "--model", "{model}", "--data", "{bad}", "--out", "{out}/f.png"}, false},
}

// cellBadCases: every cell command refuses, in one line naming the file
// and the key, an h5ad that is not AnnData, NaN in X, no such time key, a
// time key of one value, a missing obsm key, no --time-key; the commands
// that fit a transform refuse --dims beyond the columns and --pca beyond
// the cells.
func cellBadCases() []badCase {
	var cases []badCase
	for _, c := range cellCommands {
		with := func(file, name string, flags []string, want ...string) badCase {
			return badCase{file: file, name: strings.TrimSpace(c.name + " " + name), args: slices.Concat(c.args, flags), want: want}
		}
		cases = append(cases,
			with("not_anndata.h5ad", "", []string{"--time-key", "day"}, "not an AnnData file"),
			with("x_nan.h5ad", "", []string{"--time-key", "day"}, "/X: row 3, column 2 holds NaN"),
			with("cells.h5ad", "time key", []string{"--time-key", "nope"}, `obs column "nope" (/obs/nope): no such column`),
			with("cells.h5ad", "one time", []string{"--time-key", "constant"}, `obs column "constant" (/obs/constant): holds only one time value`),
			with("cells.h5ad", "obsm", []string{"--time-key", "day", "--obsm", "X_nope"}, `/obsm has no key "X_nope"`),
			with("cells.h5ad", "no time key", nil, "no time key given", "--time-key"),
		)
		if c.fits {
			cases = append(cases,
				with("cells.h5ad", "dims", []string{"--time-key", "day", "--dims", "9"}, "--dims 9: the cells have only 4 columns"),
				with("three_cells_d6.npz", "pca", []string{"--pca", "4"}, "--pca 4: 3 training cells are fewer than the 4 components"),
			)
		}
	}
	return cases
}
