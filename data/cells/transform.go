package cells

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// Options say which steps a Transform takes, in this order:
//
//  0. Normalize: scale each cell's counts to the same total (the median
//     total of the training cells), then log1p, as scanpy's
//     normalize_total and log1p do: raw counts before a PCA.
//  1. Dims k: keep the first k columns (e.g. of an obsm matrix that already
//     holds principal components).
//  2. PCA k: project the (kept) columns, centred on the training mean, on
//     their first k principal components; with Dims too, the PCA is of the
//     first Dims columns, so PCA ≤ Dims.
//  3. Standardize: z-score each resulting column with the mean and standard
//     deviation (over n, as scikit-learn's StandardScaler) of the training
//     cells.
//
// Zero values mean "skip the step".
type Options struct {
	Normalize   bool
	Dims        int
	PCA         int
	Standardize bool
	// Seed draws the random test matrix of a randomized PCA.
	Seed uint64
}

// IsZero reports whether the options ask for no step at all.
func (o Options) IsZero() bool { return !o.Normalize && o.Dims == 0 && o.PCA == 0 && !o.Standardize }

// String gives the options as the CLI flags that ask for them.
func (o Options) String() string {
	var flags []string
	if o.Normalize {
		flags = append(flags, "--normalize")
	}
	if o.Dims > 0 {
		flags = append(flags, fmt.Sprintf("--dims %d", o.Dims))
	}
	if o.PCA > 0 {
		flags = append(flags, fmt.Sprintf("--pca %d", o.PCA))
	}
	if o.Standardize {
		flags = append(flags, "--standardize")
	}
	if len(flags) == 0 {
		return "no transform"
	}
	return strings.Join(flags, " ")
}

// Transform maps cells to the coordinates a model is trained in. It is
// fitted once, on the training cells (Fit), and stored (JSON) in the model
// file and in prepared data, so that held-out cells are mapped with the
// same numbers (Apply).
type Transform struct {
	// InputDim is the number of columns of the cells it applies to.
	InputDim int `json:"input_dim"`
	// Normalize scales each cell to a total and takes log1p (nil: no).
	Normalize *Normalize `json:"normalize,omitempty"`
	// Dims keeps the first Dims columns (0: all InputDim).
	Dims int `json:"dims,omitempty"`
	// PCA projects on a fitted basis (nil: no projection).
	PCA *PCA `json:"pca,omitempty"`
	// Scale is the z-score of each output column (nil: none).
	Scale *Scale `json:"standardize,omitempty"`
}

// Normalize is scanpy's normalize_total then log1p: each cell's values
// times TargetSum over the cell's total, then log(1 + ·). A cell whose
// total is 0 stays 0.
type Normalize struct {
	TargetSum float64 `json:"target_sum"`
}

// fitNormalize takes the median total of the cells with counts (scanpy's
// default target_sum), refusing negative values: --normalize is for
// counts, not for an embedding.
func fitNormalize(set *snapshot.Set) (*Normalize, error) {
	var totals []float64
	for i := range set.Len() {
		var total float64
		for j, v := range set.Row(i) {
			if v < 0 {
				return nil, fmt.Errorf("--normalize: row %d, column %d holds %v; it normalises counts (non-negative), not an embedding such as X_pca", i, j+1, v)
			}
			total += v
		}
		if total > 0 {
			totals = append(totals, total)
		}
	}
	if len(totals) == 0 {
		return nil, fmt.Errorf("--normalize: every cell's counts are 0")
	}
	slices.Sort(totals)
	mid := len(totals) / 2
	target := totals[mid]
	if len(totals)%2 == 0 {
		target = (totals[mid-1] + totals[mid]) / 2
	}
	return &Normalize{TargetSum: target}, nil
}

// rows maps n rows of d values.
func (z *Normalize) rows(x []float64, n, d int) []float64 {
	y := make([]float64, n*d)
	for i := range n {
		var total float64
		for _, v := range x[i*d : (i+1)*d] {
			total += v
		}
		if total <= 0 {
			continue
		}
		f := z.TargetSum / total
		for j, v := range x[i*d : (i+1)*d] {
			y[i*d+j] = math.Log1p(v * f)
		}
	}
	return y
}

// Scale is a per-column z-score, y_j = (x_j − Mean_j)/Std_j, with the mean
// and standard deviation of the training cells.
type Scale struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Fit fits the transform opts asks for on the cells of set (the training
// cells: every snapshot together). Errors name the flag: --dims larger than
// the data's columns, --pca larger than the kept columns or than the
// number of cells, --standardize on fewer than 2 cells or on a column that
// does not vary (refused rather than left unscaled: a constant coordinate
// carries no dynamics, and dividing by a tiny spread would blow up noise;
// drop it with --dims or a smaller --pca).
func Fit(set *snapshot.Set, opts Options) (*Transform, error) {
	if err := set.Validate(); err != nil {
		return nil, err
	}
	n := set.Len()
	if opts.Dims < 0 || opts.PCA < 0 {
		return nil, fmt.Errorf("--dims and --pca: expected a positive number of columns (0: off), got %d and %d", opts.Dims, opts.PCA)
	}
	t := &Transform{InputDim: set.D, Dims: opts.Dims}
	base := set.X // what the steps after Normalize see
	if opts.Normalize {
		z, err := fitNormalize(set)
		if err != nil {
			return nil, err
		}
		t.Normalize = z
		base = z.rows(set.X, n, set.D)
	}
	cols := set.D
	if opts.Dims > 0 {
		if opts.Dims > set.D {
			return nil, fmt.Errorf("--dims %d: the cells have only %d columns", opts.Dims, set.D)
		}
		cols = opts.Dims
	}
	if opts.PCA > 0 {
		switch {
		case opts.PCA > cols && opts.Dims > 0:
			return nil, fmt.Errorf("--pca %d: the PCA is of the first --dims %d columns, so it has at most %d components", opts.PCA, opts.Dims, cols)
		case opts.PCA > cols:
			return nil, fmt.Errorf("--pca %d: the cells have only %d columns", opts.PCA, cols)
		case opts.PCA > n:
			return nil, fmt.Errorf("--pca %d: %d training cells are fewer than the %d components asked for", opts.PCA, n, opts.PCA)
		}
		x := mat.NewDense(n, set.D, base).Slice(0, n, 0, cols)
		p, err := fitPCA(x, opts.PCA, opts.Seed)
		if err != nil {
			return nil, err
		}
		t.PCA = p
	}
	if opts.Standardize {
		if n < 2 {
			return nil, fmt.Errorf("--standardize: needs at least 2 training cells, got %d", n)
		}
		// The statistics are those of the cells after the steps before.
		y := t.apply(set.X, n)
		sc, err := fitScale(y, n)
		if err != nil {
			return nil, err
		}
		t.Scale = sc
	}
	return t, nil
}

// fitScale computes each column's mean and standard deviation over n rows
// (divided by n), refusing a column whose spread is 0 or below 1e-12 of the
// largest column's: numerically constant.
func fitScale(y []float64, n int) (*Scale, error) {
	d := len(y) / n
	sc := &Scale{Mean: make([]float64, d), Std: make([]float64, d)}
	for i := range n {
		for j, v := range y[i*d : (i+1)*d] {
			sc.Mean[j] += v
		}
	}
	for j := range d {
		sc.Mean[j] /= float64(n)
	}
	for i := range n {
		for j, v := range y[i*d : (i+1)*d] {
			e := v - sc.Mean[j]
			sc.Std[j] += e * e
		}
	}
	largest := 0.0
	for j := range d {
		sc.Std[j] = math.Sqrt(sc.Std[j] / float64(n))
		largest = max(largest, sc.Std[j])
	}
	for j, s := range sc.Std {
		if s == 0 || s < 1e-12*largest {
			return nil, fmt.Errorf("--standardize: column %d has standard deviation %.3g over the %d training cells (constant); drop it with --dims or a smaller --pca", j+1, s, n)
		}
	}
	return sc, nil
}

// Options returns the options the transform was fitted with.
func (t *Transform) Options() Options {
	o := Options{Normalize: t.Normalize != nil, Dims: t.Dims, Standardize: t.Scale != nil}
	if t.PCA != nil {
		o.PCA = len(t.PCA.Components)
		o.Seed = t.PCA.Seed
	}
	return o
}

// Summary describes the transform in one line for people: its flags and,
// for a PCA, how it was computed and the share of the variance it keeps.
func (t *Transform) Summary() string {
	s := fmt.Sprintf("%s (d = %d → %d)", t.Options(), t.InputDim, t.OutputDim())
	if z := t.Normalize; z != nil {
		s += fmt.Sprintf("; counts scaled to %.4g per cell, then log1p", z.TargetSum)
	}
	if p := t.PCA; p != nil && p.TotalVariance > 0 {
		var kept float64
		for _, v := range p.Variance {
			kept += v
		}
		s += fmt.Sprintf("; PCA (%s) fitted on %d cells keeps %.1f%% of the variance", p.Method, p.Cells, 100*kept/p.TotalVariance)
	}
	return s
}

// OutputDim is the number of columns of transformed cells.
func (t *Transform) OutputDim() int {
	switch {
	case t.PCA != nil:
		return len(t.PCA.Components)
	case t.Dims > 0:
		return t.Dims
	}
	return t.InputDim
}

// Validate checks a stored transform (read from a model or data file):
// consistent shapes, finite numbers, positive spreads.
func (t *Transform) Validate() error {
	if t.InputDim < 1 || t.Dims < 0 || t.Dims > t.InputDim {
		return fmt.Errorf("transform: expected 0 ≤ dims ≤ input_dim and input_dim ≥ 1, got dims %d and input_dim %d", t.Dims, t.InputDim)
	}
	kept := t.InputDim
	if t.Dims > 0 {
		kept = t.Dims
	}
	if z := t.Normalize; z != nil && !(z.TargetSum > 0 && !math.IsInf(z.TargetSum, 0)) {
		return fmt.Errorf("transform: normalize: target_sum is %v, expected a positive finite number", z.TargetSum)
	}
	if t.PCA != nil {
		if err := t.PCA.validate(kept); err != nil {
			return fmt.Errorf("transform: %w", err)
		}
	}
	if t.Scale != nil {
		out := t.OutputDim()
		if len(t.Scale.Mean) != out || len(t.Scale.Std) != out {
			return fmt.Errorf("transform: standardize: expected %d means and standard deviations, got %d and %d", out, len(t.Scale.Mean), len(t.Scale.Std))
		}
		if err := finite("standardize mean", t.Scale.Mean); err != nil {
			return fmt.Errorf("transform: %w", err)
		}
		for j, s := range t.Scale.Std {
			if !(s > 0) || math.IsInf(s, 0) {
				return fmt.Errorf("transform: standardize: std of column %d is %v, expected a positive finite number", j+1, s)
			}
		}
	}
	return nil
}

// Apply maps the cells of set with the stored numbers and returns a new set
// (times, ids, names and dt kept) whose meta records the transform (RecordIn), so
// later commands know the cells are processed.
func (t *Transform) Apply(set *snapshot.Set) (*snapshot.Set, error) {
	if set.D != t.InputDim {
		return nil, fmt.Errorf("the cells have %d columns, the transform expects %d (the columns of the cells it was fitted on)", set.D, t.InputDim)
	}
	meta, err := t.RecordIn(set.Meta)
	if err != nil {
		return nil, err
	}
	out := &snapshot.Set{
		X:    t.apply(set.X, set.Len()),
		D:    t.OutputDim(),
		T:    append([]float64(nil), set.T...),
		DT:   set.DT,
		Meta: meta,
	}
	if set.ID != nil {
		out.ID = append([]int64(nil), set.ID...)
	}
	if set.Names != nil {
		out.Names = append([]string(nil), set.Names...)
	}
	return out, nil
}

// apply maps n rows of InputDim columns.
func (t *Transform) apply(x []float64, n int) []float64 {
	in, out := t.InputDim, t.OutputDim()
	kept := in
	if t.Dims > 0 {
		kept = t.Dims
	}
	y := make([]float64, n*out)
	if t.Normalize != nil {
		x = t.Normalize.rows(x, n, in)
	}
	if t.PCA != nil {
		t.PCA.projectRows(y, x, n, in)
	} else {
		for i := range n {
			copy(y[i*out:(i+1)*out], x[i*in:i*in+kept])
		}
	}
	if t.Scale != nil {
		for i := range n {
			for j, v := range y[i*out : (i+1)*out] {
				y[i*out+j] = (v - t.Scale.Mean[j]) / t.Scale.Std[j]
			}
		}
	}
	return y
}

// KeptDim is the number of input columns the transform reads: the first
// Dims, else all InputDim. Inverse gives back this many columns.
func (t *Transform) KeptDim() int {
	if t.Dims > 0 {
		return t.Dims
	}
	return t.InputDim
}

// Exact reports whether Inverse gives back the cells themselves: z-scores
// and a choice of first columns are undone exactly; a PCA only to its
// span; --normalize not at all (Inverse stops at the log-normalised values).
func (t *Transform) Exact() bool { return t.PCA == nil && t.Normalize == nil }

// Inverse maps n rows of model coordinates (OutputDim columns) back to the
// input's first KeptDim columns: it undoes the z-score, then maps PCA
// coordinates back as the mean plus their combination of the components,
// the point of the PCA's span that projects on them (what the PCA dropped
// is not recovered). Columns past --dims are not recovered either: the
// result has KeptDim columns. After --normalize the result is the
// log-normalised values (log1p of counts scaled to TargetSum): each cell's
// own total is not recorded, so its counts cannot be.
func (t *Transform) Inverse(y []float64, n int) []float64 {
	out, kept := t.OutputDim(), t.KeptDim()
	z := slices.Clone(y[:n*out])
	if t.Scale != nil {
		for i := range n {
			for j := range out {
				z[i*out+j] = z[i*out+j]*t.Scale.Std[j] + t.Scale.Mean[j]
			}
		}
	}
	if t.PCA == nil {
		return z // the first kept columns, as they were
	}
	x := make([]float64, n*kept)
	for i := range n {
		row := x[i*kept : (i+1)*kept]
		copy(row, t.PCA.Mean)
		for c, comp := range t.PCA.Components {
			v := z[i*out+c]
			for j, w := range comp {
				row[j] += v * w
			}
		}
	}
	return x
}

// Equal reports whether two transforms (nil: none) hold the same numbers.
func Equal(a, b *Transform) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// metaKey is the key of the transform in a data file's meta object.
const metaKey = "transform"

// RecordIn returns meta (a JSON object, or nil) with the transform stored
// under the key "transform" (docs/formats.md §1); the other keys are kept.
func (t *Transform) RecordIn(meta []byte) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &obj); err != nil {
			return nil, fmt.Errorf(`field "meta": expected a JSON object (%w)`, err)
		}
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	obj[metaKey] = raw
	return json.Marshal(obj)
}

// FromMeta returns the transform recorded in a data file's meta, or nil
// when there is none (raw cells).
func FromMeta(meta []byte) (*Transform, error) {
	if len(meta) == 0 {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(meta, &obj); err != nil {
		return nil, fmt.Errorf(`field "meta": expected a JSON object (%w)`, err)
	}
	raw, ok := obj[metaKey]
	if !ok {
		return nil, nil
	}
	t, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf(`field "meta": key %q: %w`, metaKey, err)
	}
	return t, nil
}

// Decode reads and validates a stored transform.
func Decode(raw []byte) (*Transform, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t Transform
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("expected a transform object (%w)", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// finite refuses NaN and ±Inf, naming the vector and the entry.
func finite(name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: entry %d is %v, expected a finite number", name, i+1, x)
		}
	}
	return nil
}
