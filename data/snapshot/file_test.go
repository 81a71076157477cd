package snapshot

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadCSV(t *testing.T) {
	path := writeFile(t, "data.csv", "\ufeffx0, t ,id,x1\n1.5,0,7,-2\n 3e-1 ,1,8,4\n\n.25,0,9,+5\n")
	s, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Set{D: 2, X: []float64{1.5, -2, 0.3, 4, 0.25, 5}, T: []float64{0, 1, 0}, ID: []int64{7, 8, 9}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("loaded %+v, want %+v", s, want)
	}

	// Another time column; "t" is then a coordinate, and there are no ids.
	path = writeFile(t, "day.csv", "day,t\n3,0.5\n4,0.25\n")
	s, err = Load(path, LoadOptions{TimeCol: "day"})
	if err != nil {
		t.Fatal(err)
	}
	want = &Set{D: 1, X: []float64{0.5, 0.25}, T: []float64{3, 4}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("loaded %+v, want %+v", s, want)
	}
}

func TestLoadCSVErrors(t *testing.T) {
	cases := map[string]string{
		"x,t\n1,0\n2,zero\n":    `bad.csv: line 3, column "t": "zero" is not a number`,
		"x,t\n1,0\n,1\n":        `bad.csv: line 3, column "x": "" is not a number`,
		"x,time\n1,0\n":         `bad.csv: no time column "t" in the header (columns: x, time)`,
		"x,y,t\n1,2,0\n1,2\n":   `bad.csv: line 3: expected 3 fields as in the header, got 2`,
		"x,t\n1,0\n1,0,5\n":     `bad.csv: line 3: expected 2 fields as in the header, got 3`,
		"x,t\nNaN,0\n":          `bad.csv: line 2, column "x": expected a finite number, got "NaN"`,
		"x,t\n1,-Inf\n":         `bad.csv: line 2, column "t": expected a finite number, got "-Inf"`,
		"x,t,id\n1,0,1.5\n":     `bad.csv: line 2, column "id": "1.5" is not an integer id`,
		"":                      `bad.csv: empty file (expected a header row naming the columns)`,
		"x,t\n":                 `bad.csv: no data rows after the header`,
		"t,id\n0,1\n":           `bad.csv: no coordinate columns besides "t"`,
		"x,x,t\n1,2,0\n":        `bad.csv: header names column "x" twice`,
		"x,t\n\"1,0\n":          `bad.csv: parse error on line 2`,
		"x,t\n1,0\n2,1\n3,0\n4": `bad.csv: line 5: expected 2 fields as in the header, got 1`,
	}
	for content, want := range cases {
		_, err := Load(writeFile(t, "bad.csv", content), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", content, err, want)
		}
	}
}

// TestLoadCSVErrorsAreOneLine: a quoted header field may hold a newline or
// a comma; the list of columns in "no time column" quotes such names (before
// the fix the newline went into the message, which then took two lines).
func TestLoadCSVErrorsAreOneLine(t *testing.T) {
	cases := map[string]string{
		"\"a\nb\",x\n1,2\n":   `bad.csv: no time column "t" in the header (columns: "a\nb", x)`,
		"\"a,b\",,x\n1,2,3\n": `bad.csv: no time column "t" in the header (columns: "a,b", "", x)`,
	}
	for content, want := range cases {
		_, err := Load(writeFile(t, "bad.csv", content), LoadOptions{})
		if err == nil || !strings.HasSuffix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %q, want one line ending in %q", content, err, want)
		}
	}
}

// TestLoadDirectory: a directory named like a data file gets one line that
// says so (before, the CSV reader's "read …: is a directory" repeated the path).
func TestLoadDirectory(t *testing.T) {
	for _, name := range []string{"d.csv", "d.npz"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir, LoadOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), dir+": is a directory, expected a") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// TestLoadCSVWideHeader: a header of thousands of short names costs memory
// in proportion to its size (the bound of FuzzLoadCSV), and the error lists
// the first 20 names, not all of them.
func TestLoadCSVWideHeader(t *testing.T) {
	var names []string
	for a := 'A'; a <= 'z'; a++ {
		for b := 'A'; b <= 'z'; b++ {
			names = append(names, string([]rune{a, b}))
		}
	}
	content := strings.Join(names, ",") + "\n"
	path := writeFile(t, "wide.csv", content)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(path, LoadOptions{})
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, fuzzcheck.Limit(int64(len(content)), 128); got > limit {
		t.Errorf("a header of %d bytes allocated %d, more than %d", len(content), got, limit)
	}
	want := path + `: no time column "t" in the header (columns: AA, AB, AC, AD, AE, AF, AG, AH, AI, AJ, AK, AL, AM, AN, AO, AP, AQ, AR, AS, AT, … 3364 columns in all)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestLoadPathErrors(t *testing.T) {
	cases := map[string]string{
		"missing.npz": "missing.npz: cannot read: no such file or directory",
		"missing.csv": "missing.csv: cannot read: no such file or directory",
		"cells.h5ad":  "cells.h5ad: here only .npz and .csv are read; convert AnnData with jkonet-gpu prepare",
		"data.txt":    `data.txt: unknown data format ".txt" (expected .npz or .csv)`,
	}
	for name, want := range cases {
		_, err := Load(filepath.Join(t.TempDir(), name), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	_, err := Load(writeFile(t, "text.npz", "x,t\n"), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "text.npz: not an NPZ archive") {
		t.Errorf("text file as npz: error %v", err)
	}
}

// validArchive is a correct snapshot file of 3 rows in d = 2.
func validArchive() npz.Archive {
	return npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{3, 2}, []float64{1, 2, 3, 4, 5, 6})},
		{Name: "t", Array: npz.FromFloat64([]int{3}, []float64{0, 0, 1})},
		{Name: "id", Array: npz.FromInt64([]int{3}, []int64{1, 2, 1})},
		{Name: "dt", Array: npz.FromFloat64([]int{}, []float64{0.01})},
		{Name: "meta", Array: npz.FromBytes([]byte(`{"beta": 0}`))},
	}
}

// with returns validArchive with the array name replaced (nil: removed).
func with(name string, a *npz.Array) npz.Archive {
	var out npz.Archive
	for _, e := range validArchive() {
		if e.Name == name {
			if a == nil {
				continue
			}
			e.Array = a
		}
		out = append(out, e)
	}
	return out
}

func TestLoadNPZErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		arch npz.Archive
		want string
	}{
		{with("x", nil), `data.npz: field "x": missing (expected an M×d float array of points; the file has t, id, dt, meta)`},
		{with("x", npz.FromFloat64([]int{6}, []float64{1, 2, 3, 4, 5, 6})), `data.npz: field "x": expected a 2-D float array, got float64 array of shape (6,)`},
		{with("x", npz.FromInt64([]int{3, 2}, []int64{1, 2, 3, 4, 5, 6})), `field "x": expected a 2-D float array, got int64 array of shape (3, 2)`},
		{with("x", npz.FromFloat64([]int{0, 2}, nil)), `field "x": expected at least one row`},
		{with("x", npz.FromFloat64([]int{3, 0}, nil)), `field "x": expected at least one coordinate column`},
		{with("x", npz.FromFloat64([]int{3, 2}, []float64{1, 2, 3, nan, 5, 6})), `field "x": expected finite numbers, row 1 holds NaN`},
		{with("x", npz.FromFloat64([]int{3, 2}, []float64{1, 2, 3, 4, 5, -inf})), `field "x": expected finite numbers, row 2 holds -Inf`},
		{with("t", nil), `data.npz: field "t": missing`},
		{with("t", npz.FromFloat64([]int{2}, []float64{0, 1})), `data.npz: field "t": expected 3 values (one per row of x), got 2`},
		{with("t", npz.FromFloat64([]int{3, 1}, []float64{0, 1, 2})), `field "t": expected a 1-D numeric array, got float64 array of shape (3, 1)`},
		{with("t", npz.FromFloat64([]int{3}, []float64{0, inf, 1})), `field "t": expected finite numbers, row 1 holds +Inf`},
		{with("t", npz.FromBytes([]byte{0, 0, 1})), ""}, // uint8 labels are fine
		{with("id", npz.FromFloat64([]int{3}, []float64{1, 2, 3})), `field "id": expected a 1-D integer array, got float64 array of shape (3,)`},
		{with("id", npz.FromInt64([]int{4}, []int64{1, 2, 3, 4})), `field "id": expected 3 values (one per row of x), got 4`},
		{with("dt", npz.FromFloat64([]int{2}, []float64{1, 2})), `field "dt": expected a single number, got float64 array of shape (2,)`},
		{with("dt", npz.FromFloat64([]int{}, []float64{-1})), `field "dt": expected a positive finite time step, got -1`},
		{with("meta", npz.FromBytes([]byte(`{"a": `))), `field "meta": expected the bytes of a JSON object (unexpected end of JSON input)`},
		{with("meta", npz.FromBytes([]byte(`[1, 2]`))), `field "meta": expected the bytes of a JSON object`},
		{with("meta", npz.FromInt64([]int{2}, []int64{'{', '}'})), `field "meta": expected uint8 bytes of a JSON object, got int64 array of shape (2,)`},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "data.npz")
		if err := npz.WriteFile(path, c.arch); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, LoadOptions{})
		if c.want == "" {
			if err != nil {
				t.Errorf("unexpected error %v", err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one starting with the path and containing %q", err, c.want)
		}
	}
}

// TestLoadNumPyVariants reads a file NumPy wrote with float32 x, int64 t,
// int32 id and a 1-element dt.
func TestLoadNumPyVariants(t *testing.T) {
	s, err := Load("../../testdata/npz/snapshot_variants.npz", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Set{
		D: 2, X: []float64{0.5, 1, 2, -3, 0.25, 4}, T: []float64{0, 0, 1}, ID: []int64{7, 8, 7},
		DT: 0.5, Meta: []byte(`{"potential": "flat"}`),
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("loaded %+v, want %+v", s, want)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string]*Set{
		"full":    gridSet(5, 0, 0.5, 2),
		"minimal": {D: 3, X: []float64{1, 2, 3}, T: []float64{-1}},
	} {
		first, second := filepath.Join(dir, name+"1.npz"), filepath.Join(dir, name+"2.npz")
		if err := s.Save(first); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(second); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(first)
		b, _ := os.ReadFile(second)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two saves differ", name)
		}
		back, err := Load(first, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Errorf("%s: loaded %+v, want %+v", name, back, s)
		}
	}
}

func TestSaveRefusesInvalidSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.npz")
	bad := &Set{D: 1, X: []float64{1, 2}, T: []float64{0}}
	err := bad.Save(path)
	if err == nil || err.Error() != path+`: field "t": expected 2 values (one per row of x), got 1` {
		t.Errorf("error %v", err)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("invalid set left a file: %v", statErr)
	}
}

func TestTimesSnapshotsInfo(t *testing.T) {
	s := &Set{D: 1, X: []float64{10, 11, 12, 13, 14}, T: []float64{2, 0, 1, 0, 2}, ID: []int64{5, 5, 5, 6, 6}, Meta: []byte(`{"a":1}`)}
	if got := s.Times(); !reflect.DeepEqual(got, []float64{0, 1, 2}) {
		t.Errorf("Times() = %v", got)
	}
	snaps := s.Snapshots()
	want := []Snapshot{
		{Time: 0, Rows: []int{1, 3}, X: []float64{11, 13}, ID: []int64{5, 6}},
		{Time: 1, Rows: []int{2}, X: []float64{12}, ID: []int64{5}},
		{Time: 2, Rows: []int{0, 4}, X: []float64{10, 14}, ID: []int64{5, 6}},
	}
	if !reflect.DeepEqual(snaps, want) {
		t.Errorf("Snapshots() = %+v, want %+v", snaps, want)
	}
	info := s.Info()
	wantInfo := Info{Rows: 5, Dim: 1, Times: []float64{0, 1, 2}, Counts: []int{2, 1, 2}, HasIDs: true, DistinctIDs: 2, Meta: []byte(`{"a":1}`)}
	if !reflect.DeepEqual(info, wantInfo) {
		t.Errorf("Info() = %+v, want %+v", info, wantInfo)
	}
	s.ID = nil
	if snaps := s.Snapshots(); snaps[0].ID != nil || snaps[0].Len() != 2 {
		t.Errorf("without ids: %+v", snaps[0])
	}
}
