package snapshot

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
)

// LoadOptions tunes how Load reads a file.
type LoadOptions struct {
	TimeCol string // CSV: name of the time column; "" means "t"
	// NPZ: the arrays holding the points and the time labels; "" means "x"
	// and "t". Files of other tools name them otherwise (X and ts, say).
	XKey, TimeKey string
}

// Load reads and validates a data set, choosing the reader by extension:
//
//	.npz  x (M×d float64 or float32), t (M numbers), optional id (M integers),
//	      optional dt (one number), optional meta (uint8 bytes of a JSON object)
//	.csv  a header row; the time column (opts.TimeCol), an optional "id"
//	      column, and every other column a coordinate
//
// Errors are one line naming the file, the field (or line and column) and
// what was expected.
func Load(path string, opts LoadOptions) (*Set, error) {
	var s *Set
	var err error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npz":
		s, err = loadNPZ(path, opts)
	case ".csv":
		s, err = loadCSV(path, opts)
	case ".h5ad":
		// Cells of any format are read by cells.Read (AnnData by package
		// h5ad, which imports this one); a command that reads points
		// only, as distance does, is told how to convert.
		return nil, fmt.Errorf("%s: here only .npz and .csv are read; convert AnnData with jkonet-gpu prepare --data %s --time-key KEY --out cells.npz", path, path)
	default:
		return nil, fmt.Errorf("%s: unknown data format %q (expected .npz or .csv)", path, ext)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Save writes the set as NPZ (x, t, then id, dt and meta when present),
// atomically. The same set always gives byte-identical files.
func (s *Set) Save(path string) error {
	return SaveAll([]string{path}, s)
}

// SaveAll saves sets[i] to paths[i] (as Save), all or none: every file is
// complete on disk before any is renamed into place, so a failure (a full
// disk) leaves none of them changed.
func SaveAll(paths []string, sets ...*Set) error {
	var outs []atomicfile.Output
	for i, s := range sets {
		path := paths[i]
		arch, err := s.archive(path)
		if err != nil {
			return err
		}
		outs = append(outs, atomicfile.Output{Path: path, Fill: func(w io.Writer) error {
			if err := npz.Write(w, arch); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}})
	}
	return atomicfile.WriteAll(outs...)
}

// archive is the NPZ archive Save writes.
func (s *Set) archive(path string) (npz.Archive, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	arch := npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{s.Len(), s.D}, s.X)},
		{Name: "t", Array: npz.FromFloat64([]int{s.Len()}, s.T)},
	}
	if s.ID != nil {
		arch = append(arch, npz.Entry{Name: "id", Array: npz.FromInt64([]int{s.Len()}, s.ID)})
	}
	if s.DT != 0 {
		arch = append(arch, npz.Entry{Name: "dt", Array: npz.FromFloat64([]int{}, []float64{s.DT})})
	}
	if s.Meta != nil {
		arch = append(arch, npz.Entry{Name: "meta", Array: npz.FromBytes(s.Meta)})
	}
	if s.Names != nil {
		// The bytes of a JSON list of strings, like meta: NumPy's string
		// arrays are fixed-width UCS-4, which this package does not write.
		names, err := json.Marshal(s.Names)
		if err != nil {
			return nil, fmt.Errorf("%s: field \"names\": %w", path, err)
		}
		arch = append(arch, npz.Entry{Name: "names", Array: npz.FromBytes(names)})
	}
	return arch, nil
}

func loadNPZ(path string, opts LoadOptions) (*Set, error) {
	arch, err := npz.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := fromArchive(arch, cmp.Or(opts.XKey, "x"), cmp.Or(opts.TimeKey, "t"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// fromArchive picks the fields out of an archive, the points and times from
// the arrays named xKey and tKey, checking their dtypes and ranks; Validate
// checks the rest.
func fromArchive(arch npz.Archive, xKey, tKey string) (*Set, error) {
	x := arch.Get(xKey)
	if x == nil {
		return nil, fmt.Errorf(`field %q: missing (expected an M×d float array of points; the file has %s)`, xKey, arrayNames(arch))
	}
	if !x.IsFloat() || len(x.Shape) != 2 {
		return nil, fmt.Errorf(`field %q: expected a 2-D float array, got %s`, xKey, describe(x))
	}
	s := &Set{X: x.Float, D: x.Shape[1]}

	t := arch.Get(tKey)
	if t == nil {
		return nil, fmt.Errorf(`field %q: missing (expected one time label per row of %s; the file has %s)`, tKey, xKey, arrayNames(arch))
	}
	if !isNumber(t) || len(t.Shape) != 1 {
		return nil, fmt.Errorf(`field %q: expected a 1-D numeric array, got %s`, tKey, describe(t))
	}
	s.T = t.Floats()
	if t.IsInt() {
		for i, v := range t.Int {
			if f := s.T[i]; (v > 1<<53 || v < -(1<<53)) && (f >= math.MaxInt64 || int64(f) != v) {
				return nil, fmt.Errorf(`field %q: integer time label %d (row %d) is beyond 2^53, where float64 times cannot tell labels apart (it reads as %.17g)`, tKey, v, i, f)
			}
		}
	}

	if id := arch.Get("id"); id != nil {
		if !id.IsInt() || len(id.Shape) != 1 {
			return nil, fmt.Errorf(`field "id": expected a 1-D integer array, got %s`, describe(id))
		}
		s.ID = id.Int
	}
	if dt := arch.Get("dt"); dt != nil {
		if !isNumber(dt) || len(dt.Shape) > 1 || dt.Len() != 1 {
			return nil, fmt.Errorf(`field "dt": expected a single number, got %s`, describe(dt))
		}
		s.DT = dt.Floats()[0]
	}
	if meta := arch.Get("meta"); meta != nil {
		if meta.DType != "|u1" || len(meta.Shape) != 1 {
			return nil, fmt.Errorf(`field "meta": expected uint8 bytes of a JSON object, got %s`, describe(meta))
		}
		s.Meta = make([]byte, len(meta.Int))
		for i, b := range meta.Int {
			s.Meta[i] = byte(b)
		}
	}
	if names := arch.Get("names"); names != nil {
		if names.DType != "|u1" || len(names.Shape) != 1 {
			return nil, fmt.Errorf(`field "names": expected uint8 bytes of a JSON list of strings, got %s`, describe(names))
		}
		raw := make([]byte, len(names.Int))
		for i, b := range names.Int {
			raw[i] = byte(b)
		}
		if err := json.Unmarshal(raw, &s.Names); err != nil || s.Names == nil {
			return nil, fmt.Errorf(`field "names": expected the bytes of a JSON list of strings (one per row of x)`)
		}
	}
	return s, nil
}

// arrayNames lists an archive's arrays, for errors.
func arrayNames(arch npz.Archive) string {
	names := make([]string, len(arch))
	for i, e := range arch {
		names[i] = e.Name
	}
	if len(names) == 0 {
		return "no arrays"
	}
	return strings.Join(names, ", ")
}

func isNumber(a *npz.Array) bool { return a.IsFloat() || a.IsInt() }

// describe gives dtype and shape, e.g. "float64 array of shape (3,)".
func describe(a *npz.Array) string {
	return fmt.Sprintf("%s array of shape %s", a.TypeName(), npz.FormatShape(a.Shape))
}
