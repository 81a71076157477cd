// Package h5ad reads AnnData files (.h5ad, written by anndata and scanpy)
// into a snapshot set: one row per cell, its coordinates from X, a layer or
// an obsm embedding, its time from an obs column.
//
// What is read (anndata 0.7 to 0.11 on-disk layouts, HDF5 as h5py writes
// it by default):
//
//   - the matrix: X, layers/<name> or obsm/<key>, each a dense 2-D dataset
//     (float32, float64 or any integer type) or a sparse group
//     (encoding-type csr_matrix or csc_matrix, or the older h5sparse_format
//     csr/csc) with data, indices, indptr and a shape attribute; sparse
//     matrices are densified (duplicate entries add up, as in scipy);
//   - the time column obs/<key>: a numeric dataset (any integer or float
//     width, booleans as 0/1); a categorical (anndata ≥ 0.8: a group with
//     categories and codes; 0.7: a codes dataset with the categories in
//     obs/__categories/<key>) of string or numeric categories (also as a
//     nullable-string-array); a
//     nullable-integer, nullable-boolean, nullable-float or
//     nullable-string-array group (values and mask; a masked cell is an
//     error); or a string dataset (fixed or variable length);
//   - HDF5: groups and attributes through github.com/scigolib/hdf5, after a
//     bounded walk of the group structure (groups.go); dataset bytes through
//     this package's own reader (hdf5.go): contiguous, compact and chunked
//     layouts, gzip, shuffle and fletcher32 filters, either byte order.
//
// Not read: data frames in obsm; HDF5 filters other than gzip, shuffle and
// fletcher32 (lzf, blosc, szip); groups or objects kept in dense storage
// (more than 8 members or attributes with track_order or libver='latest');
// files written with libver='latest', whose groups with attributes the
// library does not list, and whose chunked datasets may use the fixed or
// extensible array chunk indexes; external links; var, uns, obsp and varp.
package h5ad

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/scigolib/hdf5"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// Options selects what Load reads.
type Options struct {
	TimeKey    string             // obs column holding each cell's time (required)
	TimeOrder  []string           // string labels in time order (--time-order a,b,c); label i -> time i
	TimeValues map[string]float64 // label -> real time (--time-values); when set, overrides the rest; every label present must be mapped
	Obsm       string             // read obsm/<Obsm> instead of X (e.g. X_pca, X_umap)
	Layer      string             // read layers/<Layer> instead of X
	// Note, if not nil, receives one line for what the reader decided on
	// the user's behalf: how string labels map to times, which categories
	// no cell uses.
	Note func(string)
}

// MaxSnapshots is the most distinct times a time column may give without
// --time-values or --time-order: more, or a snapshot of a single cell, says
// the column is not a time (a count, a cluster id).
const MaxSnapshots = 50

// Load reads the cells of the AnnData file at path. Each cell's time is,
// in order of precedence: TimeValues[label]; the label's position in
// TimeOrder; for numbers (a numeric column or numeric categories), the
// number itself; for string labels that each carry one number (D0, D10,
// "day 3", E7.5, 12h), that number; for a categorical column whose
// category order was chosen (ordered, or not the text order anndata gives
// by default), the position among the used categories; for labels that
// each carry the same count of numbers (Day 00-03, Day 06-09), the
// position in the order of those numbers. Other string labels are refused
// (their order is unknown). Categories no cell uses are dropped (a Note).
// The labels of numbers are strconv.FormatFloat(v, 'g', -1, 64), so "0.5"
// and "2" key TimeValues and TimeOrder. When labels are not the times, the
// set's Meta records them (snapshot.TimeLabelsKey) and Note names the
// mapping. Errors are one line naming the file and the key.
func Load(path string, opts Options) (set *snapshot.Set, err error) {
	// The HDF5 library is not hardened against every malformed file; a
	// panic inside it becomes an error naming the file. A panic in this
	// package is a bug, reported as such (FuzzLoad fails on it).
	defer func() {
		if r := recover(); r != nil {
			what := "internal error"
			if strings.Contains(string(debug.Stack()), "github.com/scigolib/hdf5.") {
				what = "malformed HDF5 file: the HDF5 library failed"
			}
			set, err = nil, fmt.Errorf("%s: %s (%v)", path, what, oneLine(fmt.Sprint(r)))
		}
	}()
	set, err = load(path, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

func load(path string, opts Options) (*snapshot.Set, error) {
	if opts.TimeKey == "" {
		return nil, errors.New("no time key given (the obs column holding each cell's time)")
	}
	if opts.Obsm != "" && opts.Layer != "" {
		return nil, fmt.Errorf("obsm %q and layer %q both given; choose one", opts.Obsm, opts.Layer)
	}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	root := f.file.Root()
	obs, ok := child(root, "obs").(*hdf5.Group)
	if !ok {
		if len(root.Children()) == 0 && f.file.SuperblockVersion() >= 2 {
			return nil, errors.New("no obs group found: the root group lists no members, as in files written with h5py's libver='latest', which are not supported; rewrite the file with anndata's write_h5ad")
		}
		return nil, errors.New("not an AnnData file: no obs group")
	}
	// The times first: a wrong key should not cost reading the matrix.
	t, labels, err := f.readTimes(obs, opts)
	if err != nil {
		return nil, columnError(opts.TimeKey, at(obsPath(opts.TimeKey), err))
	}
	name, matrix, err := f.selectMatrix(root, opts)
	if err != nil {
		return nil, err
	}
	x, n, d, err := f.readMatrix(matrix, name)
	if err != nil {
		return nil, at(name, err)
	}
	if len(t) != n {
		return nil, fmt.Errorf("%s has %d rows, obs column %q (%s) %d values", name, n, opts.TimeKey, obsPath(opts.TimeKey), len(t))
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: row %d, column %d holds %v (expected finite numbers)", name, i/d, i%d, v)
		}
	}
	set := &snapshot.Set{X: x, D: d, T: t, Names: f.obsNames(obs, n)}
	if labels != nil {
		if set.Meta, err = snapshot.RecordTimeLabels(nil, labels); err != nil {
			return nil, err
		}
	}
	if err := set.Validate(); err != nil {
		return nil, err
	}
	return set, nil
}

// pathError is a problem with the HDF5 object at path, its full path in
// the file (/X/data, /obs/day/codes, /obsm/X_pca): every error about a
// dataset or group names it, so that h5py or h5ls finds what is meant.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// at names path as the place of err, unless err already names a place
// (its innermost, most precise one is kept); nil stays nil.
func at(path string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*pathError); ok {
		return err
	}
	return &pathError{path, err}
}

// obsPath is the path of the obs column key.
func obsPath(key string) string { return "/obs/" + key }

// columnError words an error of the time column: the column the user
// named and the path of the dataset at fault, e.g. obs column "day"
// (/obs/day/codes): row 3 has code 7, outside the 3 categories.
func columnError(key string, err error) error {
	if pe, ok := err.(*pathError); ok {
		return fmt.Errorf("obs column %q (%s): %w", key, pe.path, pe.err)
	}
	return fmt.Errorf("obs column %q: %w", key, err)
}

// obsNames reads the obs index (the dataset that obs's "_index" attribute
// names: the cells' barcodes), or nil when it is missing or not n strings:
// the names are kept for the user, and never stop a read.
func (f *h5file) obsNames(obs *hdf5.Group, n int) []string {
	key := cmp.Or(f.stringAttr(obs, "_index"), "_index")
	ds, ok := child(obs, key).(*hdf5.Dataset)
	if !ok {
		return nil
	}
	h, err := f.header(ds.Address())
	if err != nil || len(h.dims) != 1 || (h.dtype.class != classString && !h.dtype.vlenStr) {
		return nil
	}
	names, err := f.strings(h)
	if err != nil || len(names) != n {
		return nil
	}
	return names
}

// h5file is an open file: the library's view for groups and attributes,
// this package's reader for dataset bytes.
type h5file struct {
	file *hdf5.File
	*h5reader
	osFile *os.File
}

// hdf5Signature starts every HDF5 file (without a user block).
const hdf5Signature = "\x89HDF\r\n\x1a\n"

func open(path string) (*h5file, error) {
	osFile, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	f, err := openHDF5(osFile, path)
	if err != nil {
		osFile.Close()
		return nil, err
	}
	return f, nil
}

// openHDF5 reads the superblock's address and length sizes, checks the
// group structure (see checkGroups) and opens the file with the library.
func openHDF5(osFile *os.File, path string) (*h5file, error) {
	info, err := osFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if info.IsDir() {
		return nil, errors.New("is a directory, expected an .h5ad file")
	}
	sb := make([]byte, 16)
	if n, _ := osFile.ReadAt(sb, 0); n < len(sb) || string(sb[:8]) != hdf5Signature {
		return nil, errors.New("not an AnnData file: not an HDF5 file")
	}
	r := &h5reader{r: osFile, size: info.Size(), heaps: map[uint64]map[uint16][]byte{}}
	switch version := sb[8]; version {
	case 0, 1:
		r.offsetSize, r.lengthSize = int(sb[13]), int(sb[14])
	case 2, 3:
		r.offsetSize, r.lengthSize = int(sb[9]), int(sb[10])
	default:
		return nil, fmt.Errorf("HDF5 superblock version %d is not supported", version)
	}
	if r.offsetSize != 4 && r.offsetSize != 8 || r.lengthSize != 4 && r.lengthSize != 8 {
		return nil, fmt.Errorf("HDF5 addresses of %d bytes and lengths of %d are not supported", r.offsetSize, r.lengthSize)
	}
	if err := r.checkGroups(); err != nil {
		return nil, fmt.Errorf("malformed HDF5 file: %w", err)
	}
	file, err := hdf5.Open(path)
	if err != nil {
		return nil, fmt.Errorf("malformed HDF5 file (%s)", oneLine(err.Error()))
	}
	f := &h5file{file, r, osFile}
	f.registerGroups()
	return f, nil
}

func (f *h5file) Close() {
	f.unregisterGroups()
	f.file.Close()
	f.osFile.Close()
}

// selectMatrix finds X, layers/<name> or obsm/<key> and names it for errors.
func (f *h5file) selectMatrix(root *hdf5.Group, opts Options) (string, hdf5.Object, error) {
	pick := func(group, key, what string) (string, hdf5.Object, error) {
		g, ok := child(root, group).(*hdf5.Group)
		if !ok {
			return "", nil, fmt.Errorf("no /%s group, so no %s %q", group, what, key)
		}
		obj := child(g, key)
		if obj == nil {
			return "", nil, fmt.Errorf("/%s has no %s %q (present: %s)", group, what, key, listNames(g))
		}
		return "/" + group + "/" + key, obj, nil
	}
	switch {
	case opts.Obsm != "":
		return pick("obsm", opts.Obsm, "key")
	case opts.Layer != "":
		return pick("layers", opts.Layer, "layer")
	}
	x := child(root, "X")
	if x == nil {
		return "", nil, errors.New("not an AnnData file with X: no X (choose a matrix with --obsm or --layer)")
	}
	return "/X", x, nil
}

// readMatrix reads a dense dataset or a sparse group (at path) as n×d
// row-major float64 values.
func (f *h5file) readMatrix(obj hdf5.Object, path string) (x []float64, n, d int, err error) {
	switch m := obj.(type) {
	case *hdf5.Dataset:
		ds, err := f.header(m.Address())
		if err != nil {
			return nil, 0, 0, err
		}
		if len(ds.dims) != 2 {
			return nil, 0, 0, fmt.Errorf("expected a 2-D matrix, got shape %v", ds.dims)
		}
		if ds.dims[0] > math.MaxInt32 || ds.dims[1] > math.MaxInt32 {
			return nil, 0, 0, fmt.Errorf("shape %v is too large", ds.dims)
		}
		x, err := f.floats(ds)
		if err != nil {
			return nil, 0, 0, err
		}
		return x, int(ds.dims[0]), int(ds.dims[1]), nil
	case *hdf5.Group:
		return f.readSparse(m, path)
	}
	return nil, 0, 0, errors.New("is neither a dataset nor a group")
}

// readSparse densifies a CSR or CSC group. For CSR, row i holds the values
// data[k] at columns indices[k] for k in [indptr[i], indptr[i+1]); CSC is
// the same with rows and columns swapped.
func (f *h5file) readSparse(g *hdf5.Group, path string) (x []float64, n, d int, err error) {
	format, err := f.stringAttrErr(g, "encoding-type")
	if format == "" && err == nil {
		format, err = f.stringAttrErr(g, "h5sparse_format")
		format += "_matrix"
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if format != "csr_matrix" && format != "csc_matrix" {
		if format == "dataframe" {
			return nil, 0, 0, errors.New("is a data frame, not a matrix")
		}
		return nil, 0, 0, fmt.Errorf("is a group of encoding %q (expected csr_matrix or csc_matrix)", strings.TrimSuffix(format, "_matrix"))
	}
	shape := f.intsAttr(g, "shape")
	if shape == nil {
		shape = f.intsAttr(g, "h5sparse_shape")
	}
	if len(shape) != 2 || shape[0] < 0 || shape[1] < 0 || shape[0] > math.MaxInt32 || shape[1] > math.MaxInt32 {
		return nil, 0, 0, fmt.Errorf("sparse matrix without a valid shape attribute (got %v)", shape)
	}
	n, d = int(shape[0]), int(shape[1])
	major, minor := n, d
	if format == "csc_matrix" {
		major, minor = d, n
	}
	// Densifying costs n·d values whatever the file holds; a sparse matrix
	// worth densifying stores at least one value (12 bytes or more, about
	// 4 compressed) per 128 dense ones, so a file of a few MB cannot ask for
	// gigabytes.
	if limit := 32*f.size + 1<<16; int64(n)*int64(d) > limit {
		return nil, 0, 0, fmt.Errorf("sparse matrix of shape (%d, %d) is too large to densify from a %d-byte file (at most %d values; read a reduced matrix with --obsm or --layer)", n, d, f.size, limit)
	}
	if err := f.alloc(8 * uint64(n) * uint64(d)); err != nil {
		return nil, 0, 0, fmt.Errorf("sparse matrix of shape (%d, %d) densified: %w", n, d, err)
	}
	data, err := f.datasetFloats(g, path, "data")
	if err != nil {
		return nil, 0, 0, err
	}
	indices, err := f.datasetInts(g, path, "indices")
	if err != nil {
		return nil, 0, 0, err
	}
	indptr, err := f.datasetInts(g, path, "indptr")
	if err != nil {
		return nil, 0, 0, err
	}
	if len(indptr) != major+1 || indptr[0] != 0 || indptr[major] != int64(len(data)) || len(indices) != len(data) {
		return nil, 0, 0, at(path+"/indptr", fmt.Errorf("%d values (first %v, last %v) do not match %d stored values and %d indices for shape (%d, %d)",
			len(indptr), first(indptr), last(indptr), len(data), len(indices), n, d))
	}
	x = make([]float64, n*d)
	for i := range major {
		lo, hi := indptr[i], indptr[i+1]
		if hi < lo || hi > int64(len(data)) {
			return nil, 0, 0, at(path+"/indptr", fmt.Errorf("decreases at %d (%d then %d)", i, lo, hi))
		}
		for k := lo; k < hi; k++ {
			j := indices[k]
			if j < 0 || j >= int64(minor) {
				return nil, 0, 0, at(path+"/indices", fmt.Errorf("index %d at position %d is outside [0, %d)", j, k, minor))
			}
			if format == "csr_matrix" {
				x[i*d+int(j)] += data[k]
			} else {
				x[int(j)*d+i] += data[k]
			}
		}
	}
	return x, n, d, nil
}

func first(v []int64) any {
	if len(v) == 0 {
		return "none"
	}
	return v[0]
}

func last(v []int64) any {
	if len(v) == 0 {
		return "none"
	}
	return v[len(v)-1]
}

// column is an obs column cut into labels: each row's label index, and
// each label's text and, for numbers, its value.
type column struct {
	rows        []int
	labels      []string
	values      []float64 // nil unless the labels are numbers
	categorical bool
	ordered     bool // a categorical whose "ordered" attribute is true
}

// readTimes reads the time column and maps its labels to times. labels
// lists each used label and its time, sorted by time, when the labels are
// not the times themselves (nil for numbers).
func (f *h5file) readTimes(obs *hdf5.Group, opts Options) (t []float64, labels []snapshot.TimeLabel, err error) {
	col, err := f.readColumn(obs, opts.TimeKey)
	if err != nil {
		return nil, nil, err
	}
	if len(col.rows) == 0 {
		return nil, nil, errors.New("has 0 rows: the file holds no cells")
	}
	used := make([]bool, len(col.labels))
	for _, l := range col.rows {
		used[l] = true
	}
	timeOf := make([]float64, len(col.labels))
	how := "" // how the labels became times; "": they are the times
	switch {
	case opts.TimeValues != nil:
		byTime := map[float64]string{}
		for l, label := range col.labels {
			v, ok := opts.TimeValues[label]
			if !used[l] {
				continue
			}
			if !ok {
				return nil, nil, fmt.Errorf("label %q has no time in --time-values (labels: %s)", label, joinUsed(col.labels, used))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("label %q is given the time %v in --time-values (expected a finite number)", label, v)
			}
			if other, dup := byTime[v]; dup {
				return nil, nil, fmt.Errorf("labels %q and %q are both given the time %v in --time-values (their cells would merge into one snapshot; give each label its own time)", other, label, v)
			}
			byTime[v] = label
			timeOf[l] = v
		}
		how = "from --time-values"
	case opts.TimeOrder != nil:
		position := map[string]int{}
		for i, label := range opts.TimeOrder {
			if _, dup := position[label]; dup {
				return nil, nil, fmt.Errorf("label %q appears twice in --time-order", label)
			}
			position[label] = i
		}
		for l, label := range col.labels {
			i, ok := position[label]
			if used[l] && !ok {
				return nil, nil, fmt.Errorf("label %q is not in --time-order %s (labels: %s)", label, strings.Join(opts.TimeOrder, ","), joinUsed(col.labels, used))
			}
			timeOf[l] = float64(i)
		}
		how = "from --time-order"
	case col.values != nil:
		copy(timeOf, col.values)
	default:
		if how, err = labelTimes(col, used, timeOf); err != nil {
			return nil, nil, err
		}
	}
	t = make([]float64, len(col.rows))
	count := map[float64]int{}
	for i, l := range col.rows {
		t[i] = timeOf[l]
		if math.IsNaN(t[i]) || math.IsInf(t[i], 0) {
			return nil, nil, fmt.Errorf("row %d has the time %v (expected a finite number)", i, t[i])
		}
		count[t[i]]++
	}
	if len(count) < 2 {
		return nil, nil, fmt.Errorf("holds only one time value (%s); at least two snapshots are needed", joinUsed(col.labels, used))
	}
	if opts.TimeValues == nil && opts.TimeOrder == nil {
		if err := looksLikeTime(col, used, count); err != nil {
			return nil, nil, err
		}
	}
	if col.categorical && opts.Note != nil {
		var unused []string
		for l, label := range col.labels {
			if !used[l] {
				unused = append(unused, strconv.Quote(label))
			}
		}
		if len(unused) > 0 {
			opts.Note(fmt.Sprintf("obs column %q: categories that no cell carries are dropped: %s", opts.TimeKey, strings.Join(unused, ", ")))
		}
	}
	if how == "" {
		return t, nil, nil
	}
	for l, label := range col.labels {
		if used[l] {
			labels = append(labels, snapshot.TimeLabel{Label: label, T: timeOf[l]})
		}
	}
	slices.SortStableFunc(labels, func(a, b snapshot.TimeLabel) int { return cmp.Compare(a.T, b.T) })
	if opts.Note != nil {
		pairs := make([]string, len(labels))
		for i, l := range labels {
			pairs[i] = fmt.Sprintf("%s=%s", l.Label, strconv.FormatFloat(l.T, 'g', -1, 64))
		}
		opts.Note(fmt.Sprintf("obs column %q: times %s (%s)", opts.TimeKey, strings.Join(pairs, ", "), how))
	}
	return t, labels, nil
}

// looksLikeTime refuses a column that gives more than MaxSnapshots times
// or a snapshot of a single cell: a count or an id, not a time.
func looksLikeTime(col *column, used []bool, count map[float64]int) error {
	const hint = "it does not look like a time: name the obs column of each cell's time with --time-key (or give --time-values to use it anyway)"
	if len(count) > MaxSnapshots {
		return fmt.Errorf("gives %d snapshots (more than %d, e.g. %s); %s", len(count), MaxSnapshots, strings.Join(quoted(col.labels[:3]), ", "), hint)
	}
	times := slices.Sorted(maps.Keys(count))
	for _, t := range times {
		if count[t] == 1 {
			return fmt.Errorf("the snapshot at t=%s holds a single cell; %s", strconv.FormatFloat(t, 'g', -1, 64), hint)
		}
	}
	return nil
}

// labelTimes gives string labels their times (see Load): the one number in
// each label; else the chosen order of a categorical; else the order of
// the numbers in each label. how says which, for the note.
func labelTimes(col *column, used []bool, timeOf []float64) (how string, err error) {
	var idx []int // the used labels, in column (category) order
	for l := range col.labels {
		if used[l] {
			idx = append(idx, l)
		}
	}
	nums := make([][]float64, len(col.labels))
	counts := map[int]bool{}
	for _, l := range idx {
		nums[l] = numbersIn(col.labels[l])
		counts[len(nums[l])] = true
	}
	sameCount := len(counts) == 1 && !counts[0]
	distinct := func() bool {
		seen := map[string]bool{}
		for _, l := range idx {
			key := fmt.Sprint(nums[l])
			if seen[key] {
				return false
			}
			seen[key] = true
		}
		return true
	}
	if sameCount && counts[1] && distinct() {
		for _, l := range idx {
			timeOf[l] = nums[l][0]
		}
		return "the number in each label", nil
	}
	textOrder := slices.IsSortedFunc(idx, func(a, b int) int { return strings.Compare(col.labels[a], col.labels[b]) })
	if col.categorical && (col.ordered || !textOrder) {
		for i, l := range idx {
			timeOf[l] = float64(i)
		}
		return "the file's category order, one apart", nil
	}
	if sameCount && distinct() {
		sorted := slices.Clone(idx)
		slices.SortFunc(sorted, func(a, b int) int { return slices.Compare(nums[a], nums[b]) })
		for i, l := range sorted {
			timeOf[l] = float64(i)
		}
		return "the order of the numbers in each label, one apart; give --time-values for the real times", nil
	}
	what := "strings"
	if col.categorical {
		what = "categories in text order (anndata's default, not a time order)"
	}
	return "", fmt.Errorf("holds %s (%s); give their order with --time-order or their times with --time-values", what, joinUsed(col.labels, used))
}

// quoted quotes each label.
func quoted(labels []string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = strconv.Quote(l)
	}
	return out
}

// numberPattern finds the numbers in a label: D10, "day 3", E7.5, 12h.
var numberPattern = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// numbersIn lists the numbers written in a label, in order.
func numbersIn(label string) []float64 {
	var out []float64
	for _, m := range numberPattern.FindAllString(label, -1) {
		v, err := strconv.ParseFloat(m, 64)
		if err == nil {
			out = append(out, v)
		}
	}
	return out
}

// joinUsed lists the labels that some row carries, at most 20 of them.
func joinUsed(labels []string, used []bool) string {
	var out []string
	for l, label := range labels {
		if used[l] {
			out = append(out, strconv.Quote(label))
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("and %d more", len(out)-20))
	}
	return strings.Join(out, ", ")
}

// readColumn reads obs/<key> in any of the layouts listed in the package
// comment. Its errors name the dataset at fault (see at).
func (f *h5file) readColumn(obs *hdf5.Group, key string) (*column, error) {
	p := obsPath(key)
	obj := child(obs, key)
	if obj == nil {
		return nil, at(p, fmt.Errorf("no such column in obs (columns: %s)", f.listColumns(obs)))
	}
	if g, ok := obj.(*hdf5.Group); ok {
		enc, err := f.stringAttrErr(g, "encoding-type")
		if err != nil {
			return nil, at(p, err)
		}
		switch enc {
		case "categorical":
			codes, err := f.datasetInts(g, p, "codes")
			if err != nil {
				return nil, err
			}
			catPath := p + "/categories"
			categories := child(g, "categories")
			if nullable, ok := categories.(*hdf5.Group); ok {
				// anndata ≥ 0.11 may store string categories as a
				// nullable-string-array (values and mask)
				categories, catPath = child(nullable, "values"), catPath+"/values"
			}
			cats, ok := categories.(*hdf5.Dataset)
			if !ok {
				return nil, at(catPath, errors.New("no such dataset (a categorical needs its categories)"))
			}
			col, err := f.categorical(codes, p+"/codes", cats, catPath)
			if err != nil {
				return nil, err
			}
			col.ordered = f.boolAttr(g, "ordered")
			return col, nil
		case "nullable-integer", "nullable-boolean", "nullable-float", "nullable-string-array":
			values, err := f.dataset(g, p, "values")
			if err != nil {
				return nil, err
			}
			col, err := f.valueColumn(values)
			if err != nil {
				return nil, at(p+"/values", err)
			}
			mask, err := f.datasetInts(g, p, "mask")
			if err != nil {
				return nil, err
			}
			if len(mask) != len(col.rows) {
				return nil, at(p+"/mask", fmt.Errorf("%d values for %d values in %s/values", len(mask), len(col.rows), p))
			}
			if i := slices.IndexFunc(mask, func(m int64) bool { return m != 0 }); i >= 0 {
				return nil, at(p+"/mask", fmt.Errorf("row %d has no value (masked)", i))
			}
			return col, nil
		default:
			return nil, at(p, fmt.Errorf("is a group of encoding %q, not a column this reader knows", enc))
		}
	}
	h, err := f.header(obj.(*hdf5.Dataset).Address())
	if err != nil {
		return nil, at(p, err)
	}
	if len(h.dims) != 1 {
		return nil, at(p, fmt.Errorf("expected one value per cell, got shape %v", h.dims))
	}
	// anndata 0.7 keeps the categories of obs/<key> in obs/__categories/<key>.
	if cats, ok := child(child(obs, "__categories"), key).(*hdf5.Dataset); ok {
		codes, err := f.ints(h)
		if err != nil {
			return nil, at(p, err)
		}
		return f.categorical(codes, p, cats, "/obs/__categories/"+key)
	}
	col, err := f.valueColumn(h)
	return col, at(p, err)
}

// valueColumn cuts a dataset of strings or numbers into labels.
func (f *h5file) valueColumn(h *dataset) (*column, error) {
	if h.dtype.class != classString && !h.dtype.vlenStr {
		values, err := f.floats(h)
		if err != nil {
			return nil, err
		}
		return numbers(values), nil
	}
	s, err := f.strings(h)
	if err != nil {
		return nil, err
	}
	col := &column{rows: make([]int, len(s))}
	index := map[string]int{}
	for i, v := range s {
		l, ok := index[v]
		if !ok {
			l = len(col.labels)
			index[v] = l
			col.labels = append(col.labels, v)
		}
		col.rows[i] = l
	}
	return col, nil
}

// numbers cuts numeric values into labels.
func numbers(values []float64) *column {
	col := &column{rows: make([]int, len(values))}
	index := map[float64]int{}
	for i, v := range values {
		l, ok := index[v]
		if !ok {
			l = len(col.labels)
			index[v] = l
			col.labels = append(col.labels, strconv.FormatFloat(v, 'g', -1, 64))
			col.values = append(col.values, v)
		}
		col.rows[i] = l
	}
	return col
}

// categorical pairs codes (the dataset at codesPath) with their
// categories (at catPath), in category order.
func (f *h5file) categorical(codes []int64, codesPath string, cats *hdf5.Dataset, catPath string) (*column, error) {
	h, err := f.header(cats.Address())
	if err != nil {
		return nil, at(catPath, err)
	}
	col := &column{rows: make([]int, len(codes)), categorical: true}
	if h.dtype.class == classString || h.dtype.vlenStr {
		if col.labels, err = f.strings(h); err != nil {
			return nil, at(catPath, err)
		}
	} else {
		if col.values, err = f.floats(h); err != nil {
			return nil, at(catPath, err)
		}
		for _, v := range col.values {
			col.labels = append(col.labels, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	for i, c := range codes {
		if c < 0 || c >= int64(len(col.labels)) {
			if c == -1 {
				return nil, at(codesPath, fmt.Errorf("row %d has no value (missing category)", i))
			}
			return nil, at(codesPath, fmt.Errorf("row %d has code %d, outside the %d categories of %s", i, c, len(col.labels), catPath))
		}
		col.rows[i] = int(c)
	}
	for _, v := range col.values {
		if math.IsNaN(v) {
			return nil, at(catPath, errors.New("a category is NaN"))
		}
	}
	return col, nil
}

// dataset reads the header of the 1-D dataset name of the group g at
// path gp; errors name the dataset's path.
func (f *h5file) dataset(g *hdf5.Group, gp, name string) (*dataset, error) {
	p := gp + "/" + name
	ds, ok := child(g, name).(*hdf5.Dataset)
	if !ok {
		return nil, at(p, errors.New("no such dataset"))
	}
	h, err := f.header(ds.Address())
	if err != nil {
		return nil, at(p, err)
	}
	if len(h.dims) != 1 {
		return nil, at(p, fmt.Errorf("expected a 1-D array, got shape %v", h.dims))
	}
	return h, nil
}

func (f *h5file) datasetFloats(g *hdf5.Group, gp, name string) ([]float64, error) {
	h, err := f.dataset(g, gp, name)
	if err != nil {
		return nil, err
	}
	v, err := f.floats(h)
	if err != nil {
		return nil, at(gp+"/"+name, err)
	}
	return v, nil
}

func (f *h5file) datasetInts(g *hdf5.Group, gp, name string) ([]int64, error) {
	h, err := f.dataset(g, gp, name)
	if err != nil {
		return nil, err
	}
	v, err := f.ints(h)
	if err != nil {
		return nil, at(gp+"/"+name, err)
	}
	return v, nil
}

// child returns the member of g called name, or nil (also when g is not a
// group).
func child(g hdf5.Object, name string) hdf5.Object {
	group, ok := g.(*hdf5.Group)
	if !ok {
		return nil
	}
	for _, c := range group.Children() {
		if c.Name() == name {
			return c
		}
	}
	return softChild(group, name)
}

// listNames lists the members of g, sorted.
func listNames(g *hdf5.Group) string {
	var names []string
	for _, c := range g.Children() {
		names = append(names, c.Name())
	}
	slices.Sort(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	if notes := linkNotes(g); len(notes) > 0 {
		return strings.Join(names, ", ") + "; " + strings.Join(notes, "; ")
	}
	return strings.Join(names, ", ")
}

// listColumns lists the columns of obs: its members less the index and
// anndata 0.7's __categories.
func (f *h5file) listColumns(obs *hdf5.Group) string {
	index := f.stringAttr(obs, "_index")
	var names []string
	for _, c := range obs.Children() {
		if name := c.Name(); name != index && name != "__categories" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	if notes := linkNotes(obs); len(notes) > 0 {
		return strings.Join(names, ", ") + "; " + strings.Join(notes, "; ")
	}
	return strings.Join(names, ", ")
}

// attribute returns the attribute name of g as a dataset-like value (its
// datatype and bytes) for this package's decoders, or nil. The library
// parses the attribute message; its ReadValue is not used, because it
// reads variable-length strings from heaps of unchecked sizes.
func (f *h5file) attribute(g *hdf5.Group, name string) (*datatype, []byte) {
	attrs, err := g.Attributes()
	if err != nil {
		return nil, nil
	}
	for _, a := range attrs {
		if a.Name != name || a.Datatype == nil {
			continue
		}
		t := datatype{
			class:     int(a.Datatype.Class),
			size:      int(a.Datatype.Size),
			bigEndian: a.Datatype.ClassBitField&1 != 0,
			signed:    a.Datatype.ClassBitField&0x08 != 0,
			vlenStr:   a.Datatype.Class == classVLen && a.Datatype.ClassBitField&0x0f == 1,
		}
		if t.vlenStr {
			t.size = 4 + f.offsetSize + 4
		}
		if t.size < 1 {
			return nil, nil
		}
		return &t, a.Data[:len(a.Data)/t.size*t.size]
	}
	return nil, nil
}

// stringAttr returns a scalar string attribute of g, or "".
func (f *h5file) stringAttr(g *hdf5.Group, name string) string {
	s, _ := f.stringAttrErr(g, name)
	return s
}

// stringAttrErr is stringAttr, but returns the refusal of a memory budget
// too small for the attribute's global heap collection, so that it is not
// mistaken for a missing attribute.
func (f *h5file) stringAttrErr(g *hdf5.Group, name string) (string, error) {
	t, data := f.attribute(g, name)
	if t == nil || len(data) == 0 {
		return "", nil
	}
	s, err := f.decodeStrings(*t, data[:t.size])
	if budget := (*membudget.Error)(nil); errors.As(err, &budget) {
		return "", fmt.Errorf("attribute %q: %w", name, err)
	}
	if err != nil || len(s) != 1 {
		return "", nil
	}
	return s[0], nil
}

// boolAttr reports whether a scalar attribute of g (a boolean, which h5py
// writes as an 8-bit enum, or an integer) is true.
func (f *h5file) boolAttr(g *hdf5.Group, name string) bool {
	_, data := f.attribute(g, name)
	return len(data) > 0 && data[0] != 0
}

// intsAttr returns an integer array attribute of g, or nil.
func (f *h5file) intsAttr(g *hdf5.Group, name string) []int64 {
	t, data := f.attribute(g, name)
	if t == nil || t.class != classFixed || !slices.Contains([]int{1, 2, 4, 8}, t.size) {
		return nil
	}
	v, err := decodeInts(*t, data)
	if err != nil {
		return nil
	}
	return v
}

// oneLine keeps the first line of a message.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
