package snapshot

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// The fuzz targets of this file run their seeds (f.Add below and
// testdata/fuzz/FuzzXxx) under plain go test; scripts/fuzz.sh fuzzes them.
// Each writes the input to a file and loads it with Load, as the commands
// do. Every input must give a valid set or an error, never a panic, and
//
//   - an error is one line that starts with the file's path and names the
//     field, array, line or header at fault;
//   - Load allocates at most allocLimit(n, 64) bytes for n bytes of NPZ (a
//     deflated entry counted at its inflated size) and allocLimit(n, 128)
//     for n bytes of CSV, so a size field believed before it is checked
//     against the bytes present shows up;
//   - a set loaded is valid and reads back the same after Save.

// allocLimit is the most a load may allocate for n bytes of input: perByte
// bytes per input byte plus 1 MiB. For NPZ, perByte is 64: values widen (a
// uint8 becomes a float64) and growing slices copy themselves, so an honest
// reader stays inside. For CSV it is 128: encoding/csv keeps an index and a
// position per field (about 48 bytes, in slices grown by doubling) and the
// header a map entry per column, so a header of thousands of 2-byte names
// costs about 80 times its size, linear in it all the same. The 1 MiB
// absorbs fixed costs (opening the file, zip, flate and CSV state).
func allocLimit(n int64, perByte uint64) uint64 { return perByte*uint64(n) + 1<<20 }

// checkAlloc runs load and fails t if it allocated more than
// allocLimit(n, perByte).
func checkAlloc(t *testing.T, n int64, perByte uint64, load func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	load()
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, allocLimit(n, perByte); got > limit {
		t.Errorf("loading %d bytes of input allocated %d bytes, more than the %d allowed", n, got, limit)
	}
}

// inflatedSize is the size of an NPZ file with each deflated entry counted
// at the size it really inflates to (up to 1 GiB).
func inflatedSize(data []byte) int64 {
	n := int64(len(data))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return n
	}
	for _, f := range zr.File {
		if f.Method == zip.Store {
			continue
		}
		if rc, err := f.Open(); err == nil {
			m, _ := io.Copy(io.Discard, io.LimitReader(rc, 1<<30))
			rc.Close()
			n += m
		}
	}
	return n
}

// fuzzDir is a directory for the files of a fuzz target: in /dev/shm where
// there is one (a file written and synced per input is then cheap), else
// the test's temporary directory.
func fuzzDir(f *testing.F) string {
	if dir, err := os.MkdirTemp("/dev/shm", "jkonet-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return f.TempDir()
}

// checkLoadError checks that err is one line starting with path and then
// one of the prefixes that say where the fault is.
func checkLoadError(t *testing.T, err error, path string, prefixes ...string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error on several lines: %q", msg)
	}
	rest, ok := strings.CutPrefix(msg, path+": ")
	if !ok {
		t.Fatalf("error %q does not start with the path", msg)
	}
	for _, p := range prefixes {
		if strings.HasPrefix(rest, p) {
			return
		}
	}
	t.Errorf("error %q does not say where the fault is (want a prefix among %q)", msg, prefixes)
}

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
	dir := fuzzDir(f)
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
	for _, name := range []string{"snapshot_variants.npz", "compressed.npz"} {
		data, err := os.ReadFile(filepath.Join("../testdata/npz", name))
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
		checkAlloc(t, inflatedSize(data), 64, func() { s, err = Load(path, LoadOptions{}) })
		if err != nil {
			checkLoadError(t, err, path, `field "`, `array "`, "not an NPZ archive")
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
	dir := fuzzDir(f)
	path := filepath.Join(dir, "data.csv")
	f.Fuzz(func(t *testing.T, data []byte, timeCol string) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var s *Set
		var err error
		checkAlloc(t, int64(len(data)+len(timeCol)), 128, func() { s, err = Load(path, LoadOptions{TimeCol: timeCol}) })
		if err != nil {
			checkLoadError(t, err, path, "line ", "header ", "no time column ", "no coordinate columns ",
				"empty file ", "no data rows ", "parse error ", "record on line ")
			return
		}
		checkSet(t, s, dir)
	})
}
