package snapshot

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// The fuzz targets of this file run their seeds (f.Add below and
// testdata/fuzz/FuzzXxx) under plain go test; scripts/fuzz.sh fuzzes them.
// Each writes the input to a file and loads it with Load, as the commands
// do. Every input must give a valid set or an error, never a panic, and
//
//   - an error is one line that starts with the file's path and names the
//     field, array, line or header at fault;
//   - Load allocates at most fuzzcheck.Limit(n, 64) bytes for n bytes of NPZ (a
//     deflated entry counted at its inflated size) and fuzzcheck.Limit(n, 128)
//     for n bytes of CSV, so a size field believed before it is checked
//     against the bytes present shows up;
//   - a set loaded is valid and reads back the same after Save.

// checkSet checks a loaded set and that Save then Load gives it back.
func checkSet(t *testing.T, s *Set, dir string) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Load returned an invalid set: %v", err)
	}
	if s.Len() < 1 || s.D < 1 || len(s.X) != s.Len()*s.D || (s.ID != nil && len(s.ID) != s.Len()) {
		t.Fatalf("inconsistent set: %d rows, d = %d, %d values, %d ids", s.Len(), s.D, len(s.X), len(s.ID))
	}
	path := filepath.Join(dir, "saved.npz")
	if err := s.Save(path); err != nil {
		t.Fatalf("saving what was loaded: %v", err)
	}
	back, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatalf("loading what was saved: %v", err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("saved and loaded %+v, want %+v", back, s)
	}
}

// FuzzLoadNPZ fuzzes snapshot files in NPZ: the archive (see npz's
// fuzz targets) and the fields x, t, id, dt and meta.
func FuzzLoadNPZ(f *testing.F) {
	dir := fuzzcheck.Dir(f)
	for _, s := range []*Set{
		gridSet(3, 0, 0.5, 2),
		{D: 3, X: []float64{1, 2, 3}, T: []float64{-1}},
	} {
		path := filepath.Join(dir, "seed.npz")
		if err := s.Save(path); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Issue 19: int64 labels 2^53 and 2^53+1, times 0, 1e-320, 1, and an
	// archive that decodes to a thousand times its size.
	for _, name := range []string{"t_beyond_2p53.npz", "t_tiny_step.npz", "budget.npz"} {
		data, err := os.ReadFile(filepath.Join("../../testdata/bad", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, name := range []string{"snapshot_variants.npz", "compressed.npz"} {
		data, err := os.ReadFile(filepath.Join("../../testdata/npz", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	path := filepath.Join(dir, "data.npz")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var s *Set
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.InflatedSize(data), 64, func() { s, err = Load(path, LoadOptions{}) })
		if err != nil {
			fuzzcheck.Error(t, err, path, `field "`, `array "`, "not an NPZ archive")
			return
		}
		checkSet(t, s, dir)
	})
}

// FuzzLoadCSV fuzzes snapshot files in CSV and the name of the time column:
// the header, quoting, ragged rows, numbers and ids.
func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte("\ufeffx0, t ,id,x1\n1.5,0,7,-2\n 3e-1 ,1,8,4\n\n0x1p-2,0,9,+5\n"), "")
	f.Add([]byte("day,t\n3,0.5\n4,0.25\n"), "day")
	f.Add([]byte("x,t\n1,0\n\"2\",1\n"), "t")
	f.Add([]byte("\"a\nb\",x\n1,2\n"), "")
	// Issue 19: integer labels beyond 2^53, a step below 1e-9 of the span.
	f.Add([]byte("t,x0\n9007199254740992,1\n9007199254740993,2\n"), "")
	f.Add([]byte("t,x0\n0,1\n1e-320,2\n1,3\n"), "")
	dir := fuzzcheck.Dir(f)
	path := filepath.Join(dir, "data.csv")
	f.Fuzz(func(t *testing.T, data []byte, timeCol string) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var s *Set
		var err error
		fuzzcheck.Alloc(t, int64(len(data)+len(timeCol)), 128, func() { s, err = Load(path, LoadOptions{TimeCol: timeCol}) })
		if err != nil {
			fuzzcheck.Error(t, err, path, "line ", "header ", "no time column ", "no coordinate columns ",
				"empty file ", "no data rows ", "parse error ", "record on line ", `field "`)
			return
		}
		checkSet(t, s, dir)
	})
}
