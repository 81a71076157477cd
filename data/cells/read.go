package cells

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/h5ad"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// ReadOptions say how Read finds the cells and their times in a file, and
// which transform Load fits on them. Each is a CLI flag of the same name
// (README "Single-cell time courses"), and the errors speak of the flags.
type ReadOptions struct {
	// TimeCol is the CSV column of time labels ("": "t").
	TimeCol string
	// TimeKey is the NPZ array of time labels ("": "t") or the h5ad obs
	// column of each cell's time (required there).
	TimeKey string
	// XKey is the NPZ array of points ("": "x").
	XKey string
	// TimeOrder orders the string time labels of an h5ad obs column: label
	// i is time i (ParseTimeOrder).
	TimeOrder []string
	// TimeValues gives each time label its real time (ParseTimeValues; nil:
	// the labels are the times).
	TimeValues map[string]float64
	// Obsm or Layer takes an h5ad file's coordinates from that obsm matrix
	// or layer instead of X.
	Obsm, Layer string
	// Transform is what Load fits on the cells; MapRecorded checks that it
	// names the recorded transform instead.
	Transform Options
	// Note, if not nil, receives one line (naming the file) for each thing
	// the reader decided on the user's behalf: how time labels map to
	// times, dropped categories, raw counts under --pca.
	Note func(string)
	// Training says the cells will train a model: more than RawColumns
	// columns with no transform (--dims, --pca), no recorded one and no
	// obsm embedding are refused, as raw genes by mistake.
	Training bool
	// Given reports whether the user gave the flag of that name (cli's
	// IsSet): a flag given for a format that does not take it is refused
	// even when its value is empty or the default. Nil: an option is given
	// when it is not empty.
	Given func(flag string) bool
}

// given reports whether the option of flag was given; set says whether
// its value is not empty, for callers without a Given.
func (o ReadOptions) given(flag string, set bool) bool {
	if o.Given != nil {
		return o.Given(flag)
	}
	return set
}

// Read reads the cells of path as they are stored, choosing the reader by
// extension: .h5ad by package h5ad (TimeKey, TimeOrder, TimeValues, Obsm,
// Layer); .npz and .csv by snapshot.Load (TimeCol, XKey, TimeKey), with
// TimeValues mapping their numeric labels to real times. An option given
// for a format that does not take it is refused. Errors are one line
// naming the file.
//
// The notes (opts.Note) are given only when the read succeeds, so that a
// failure stays one line.
func Read(path string, opts ReadOptions) (*snapshot.Set, error) {
	var n notes
	set, err := read(path, opts, &n)
	if err == nil {
		n.flush(opts.Note)
	}
	return set, err
}

// notes keeps the lines for ReadOptions.Note until the read succeeds.
type notes []string

func (n *notes) add(s string) { *n = append(*n, s) }

func (n notes) flush(to func(string)) {
	if to == nil {
		return
	}
	for _, s := range n {
		to(s)
	}
}

func read(path string, opts ReadOptions, n *notes) (*snapshot.Set, error) {
	if strings.EqualFold(filepath.Ext(path), ".h5ad") {
		return readAnnData(path, opts, n)
	}
	return readSnapshot(path, opts)
}

func readAnnData(path string, opts ReadOptions, n *notes) (*snapshot.Set, error) {
	if opts.given("time-col", opts.TimeCol != "") {
		return nil, fmt.Errorf("%s: --time-col is for CSV input; name the obs column of an h5ad file with --time-key", path)
	}
	if opts.given("x-key", opts.XKey != "") {
		return nil, fmt.Errorf("%s: --x-key is for NPZ input; take an h5ad file's coordinates from --obsm or --layer", path)
	}
	set, err := h5ad.Load(path, h5ad.Options{
		TimeKey: opts.TimeKey, TimeOrder: opts.TimeOrder, TimeValues: opts.TimeValues,
		Obsm: opts.Obsm, Layer: opts.Layer, Note: func(s string) { n.add(path + ": " + s) },
	})
	if err != nil && !opts.given("time-key", opts.TimeKey != "") {
		return nil, fmt.Errorf("%w; name it with --time-key", err)
	}
	return set, err
}

func readSnapshot(path string, opts ReadOptions) (*snapshot.Set, error) {
	annDataOnly := []struct {
		flag string
		set  bool
	}{{"time-order", opts.TimeOrder != nil}, {"obsm", opts.Obsm != ""}, {"layer", opts.Layer != ""}}
	for _, o := range annDataOnly {
		if opts.given(o.flag, o.set) {
			return nil, fmt.Errorf("%s: --%s is for AnnData (.h5ad) input", path, o.flag)
		}
	}
	isCSV := strings.EqualFold(filepath.Ext(path), ".csv")
	if isCSV && (opts.given("time-key", opts.TimeKey != "") || opts.given("x-key", opts.XKey != "")) {
		return nil, fmt.Errorf("%s: --time-key and --x-key name NPZ arrays or h5ad keys; a CSV file's time column is --time-col", path)
	}
	set, err := snapshot.Load(path, snapshot.LoadOptions{TimeCol: opts.TimeCol, XKey: opts.XKey, TimeKey: opts.TimeKey})
	if err != nil || opts.TimeValues == nil {
		return set, err
	}
	if err := MapTimes(set, opts.TimeValues); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The real times must pass what the labels passed (a finite span).
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("%s: after --time-values: %w", path, err)
	}
	return set, nil
}

// Load reads the cells of path (Read) and, when opts.Transform asks for a
// step, fits the transform on these cells and applies it: the result
// records the transform in its meta. Cells that already record one (a
// prepared file) are not transformed twice.
func Load(path string, opts ReadOptions) (*snapshot.Set, error) {
	var n notes
	set, err := load(path, opts, &n)
	if err == nil {
		n.flush(opts.Note)
	}
	return set, err
}

// RawColumns is the most columns that training takes without a transform
// or an obsm embedding (ReadOptions.Training): more are likely raw genes.
const RawColumns = 100

func load(path string, opts ReadOptions, n *notes) (*snapshot.Set, error) {
	set, err := read(path, opts, n)
	if err != nil {
		return nil, err
	}
	prior, err := Recorded(path, set)
	if err != nil {
		return nil, err
	}
	if opts.Training && prior == nil && opts.Transform.Dims == 0 && opts.Transform.PCA == 0 && opts.Obsm == "" && set.D > RawColumns {
		return nil, fmt.Errorf("%s: %s has %d columns (raw genes?); training on more than %d untransformed columns is slow and rarely meant: %s, or give --dims %d to train on all of them",
			path, matrixName(path, opts), set.D, RawColumns, reduceHint(path), set.D)
	}
	if opts.Transform.IsZero() {
		return set, nil
	}
	if prior == nil && opts.Transform.PCA > 0 && !opts.Transform.Normalize && looksLikeCounts(set) {
		n.add(fmt.Sprintf("%s: %s holds whole non-negative numbers, like raw counts: add --normalize to normalise them before --pca (counts per cell to one total, then log1p, as scanpy's normalize_total and log1p), or take an embedding with --obsm X_pca", path, matrixName(path, opts)))
	}
	if prior != nil {
		return nil, fmt.Errorf("%s: the cells are already transformed (%s, recorded in its meta); give the raw cells or drop %s", path, prior.Options(), opts.Transform)
	}
	t, err := Fit(set, opts.Transform)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if set, err = t.Apply(set); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// Recorded is the transform that the meta of set, read from path, records
// (nil for raw cells), checked against the set's dimension.
func Recorded(path string, set *snapshot.Set) (*Transform, error) {
	t, err := FromMeta(set.Meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t != nil && t.OutputDim() != set.D {
		return nil, fmt.Errorf(`%s: field "meta": the recorded transform gives d = %d, but x has d = %d`, path, t.OutputDim(), set.D)
	}
	return t, nil
}

// MapRecorded maps the cells of set, read from path, with the transform t
// recorded in source (a model or a prepared file; nil: none): raw cells get
// t; cells that record a transform must record t itself. Asked (the
// transform options the user gave) must be zero or name t: nothing is
// fitted on held-out cells.
func MapRecorded(path string, set *snapshot.Set, source string, t *Transform, asked Options) (*snapshot.Set, error) {
	have := Options{}
	if t != nil {
		have = t.Options()
	}
	if !asked.IsZero() && asked != have {
		return nil, fmt.Errorf("%s: records %s, not %s; drop the flags (the recorded transform is applied to raw cells)", source, have, asked)
	}
	recorded, err := Recorded(path, set)
	if err != nil {
		return nil, err
	}
	switch {
	case recorded != nil && !Equal(recorded, t):
		return nil, fmt.Errorf("%s: the cells were transformed (%s) with other numbers than %s records (%s); give the raw cells", path, recorded.Options(), source, have)
	case recorded == nil && t != nil:
		out, err := t.Apply(set)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, nil
	}
	return set, nil
}

// matrixName names the matrix the cells came from, for messages.
func matrixName(path string, opts ReadOptions) string {
	switch {
	case !strings.EqualFold(filepath.Ext(path), ".h5ad"):
		return "the data"
	case opts.Obsm != "":
		return "obsm/" + opts.Obsm
	case opts.Layer != "":
		return "layers/" + opts.Layer
	}
	return "X"
}

// reduceHint says how to train on fewer columns.
func reduceHint(path string) string {
	if strings.EqualFold(filepath.Ext(path), ".h5ad") {
		return "take an embedding with --obsm X_pca, or reduce with --normalize --pca 30"
	}
	return "reduce with --normalize --pca 30 (counts) or --dims k"
}

// looksLikeCounts reports whether every value is a whole number ≥ 0 and
// some exceed 1: raw counts rather than normalised expression.
func looksLikeCounts(set *snapshot.Set) bool {
	above1 := false
	for _, v := range set.X {
		if v < 0 || v != math.Trunc(v) {
			return false
		}
		above1 = above1 || v > 1
	}
	return above1
}
