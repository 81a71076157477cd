package h5ad

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
)

// fixture is what testdata/make_fixtures.py wrote into one file, as it
// recorded it in expected.json: matrices row-major, times per obs column
// (mapped as Load maps them).
type fixture struct {
	X      []float64            `json:"X"`
	D      int                  `json:"d"`
	Obsm   map[string][]float64 `json:"obsm"`
	Layers map[string][]float64 `json:"layers"`
	Times  map[string][]float64 `json:"times"`
}

func readExpected(t *testing.T) map[string]fixture {
	t.Helper()
	data, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]fixture
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadMatchesAnnData reads every layout the fixtures hold and compares
// each value with the numbers the script wrote.
func TestLoadMatchesAnnData(t *testing.T) {
	expected := readExpected(t)
	stageOrder := []string{"d0", "d1", "d2"}
	cases := []struct {
		file    string
		opts    Options
		matrix  func(f fixture) []float64
		d       int
		timesOf string // key of the fixture's times
	}{
		{"dense.h5ad", Options{TimeKey: "stage"}, fX, 4, "stage"},
		{"dense.h5ad", Options{TimeKey: "hours", Obsm: "X_pca"}, fObsm("X_pca"), 2, "hours"},
		{"dense.h5ad", Options{TimeKey: "day", Obsm: "X_umap"}, fObsm("X_umap"), 2, "day"},
		{"dense.h5ad", Options{TimeKey: "numcat", Layer: "counts"}, fLayer("counts"), 4, "numcat"},
		{"dense.h5ad", Options{TimeKey: "label", TimeOrder: stageOrder, Layer: "sparse"}, fLayer("sparse"), 4, "label_order"},
		{"dense.h5ad", Options{TimeKey: "stage", Layer: "shuffled"}, fLayer("shuffled"), 4, "stage"},
		{"dense.h5ad", Options{TimeKey: "stage", Layer: "tiny_chunks"}, fLayer("tiny_chunks"), 4, "stage"},
		{"dense.h5ad", Options{TimeKey: "flag", Layer: "big_endian"}, fLayer("big_endian"), 4, "flag"},
		{"csr_gzip.h5ad", Options{TimeKey: "stage"}, fX, 4, "stage"},
		{"csr_gzip.h5ad", Options{TimeKey: "numcat"}, fX, 4, "numcat"},
		{"csc.h5ad", Options{TimeKey: "day"}, fX, 4, "day"},
		{"csc.h5ad", Options{TimeKey: "stage"}, fX, 4, "stage"},
		{"latest.h5ad", Options{TimeKey: "hours"}, fX, 4, "hours"},
		{"latest.h5ad", Options{TimeKey: "hours", Layer: "single"}, fLayer("single"), 4, "hours"},
		{"latest.h5ad", Options{TimeKey: "hours", Layer: "implicit"}, fLayer("implicit"), 4, "hours"},
		{"v07.h5ad", Options{TimeKey: "stage"}, fX, 4, "stage"},
		{"v07.h5ad", Options{TimeKey: "hours"}, fX, 4, "hours"},
		{"nullable.h5ad", Options{TimeKey: "day_int"}, fX, 4, "day_int"},
		{"nullable.h5ad", Options{TimeKey: "label_str", TimeOrder: stageOrder}, fX, 4, "label_order"},
		{"nullable.h5ad", Options{TimeKey: "stage_str"}, fX, 4, "stage"},
		{"no_x.h5ad", Options{TimeKey: "stage", Obsm: "X_pca"}, fObsm("X_pca"), 2, "stage"},
	}
	for _, c := range cases {
		want := expected[c.file]
		set, err := Load(filepath.Join("testdata", c.file), c.opts)
		if err != nil {
			t.Errorf("%s %+v: %v", c.file, c.opts, err)
			continue
		}
		wantX, wantT := c.matrix(want), want.Times[c.timesOf]
		if set.D != c.d || !slices.Equal(set.X, wantX) {
			t.Errorf("%s %+v: matrix of dimension %d\n%v\nwant dimension %d\n%v", c.file, c.opts, set.D, set.X, c.d, wantX)
		}
		if wantT == nil || !slices.Equal(set.T, wantT) {
			t.Errorf("%s %+v: times %v, want %v", c.file, c.opts, set.T, wantT)
		}
	}
}

func fX(f fixture) []float64 { return f.X }

func fObsm(key string) func(fixture) []float64 {
	return func(f fixture) []float64 { return f.Obsm[key] }
}

func fLayer(key string) func(fixture) []float64 {
	return func(f fixture) []float64 { return f.Layers[key] }
}

// TestCategoryOrder pins the rule the fixtures encode: stage's categories
// are early, mid, late in the file (alphabetical would put late second),
// and the cells cycle through them, so times cycle 0, 1, 2.
func TestCategoryOrder(t *testing.T) {
	set, err := Load("testdata/dense.h5ad", Options{TimeKey: "stage"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range set.T {
		if v != float64(i%3) {
			t.Fatalf("cell %d has time %v, want %d (category order early, mid, late)", i, v, i%3)
		}
	}
}

func TestTimeValues(t *testing.T) {
	cases := []struct {
		key    string
		values map[string]float64
		want   [3]float64 // times of cells 0, 1, 2 (stages early, mid, late)
	}{
		{"stage", map[string]float64{"early": 0, "mid": 1.0 / 3, "late": 1}, [3]float64{0, 1.0 / 3, 1}},
		{"label", map[string]float64{"d0": 0.5, "d1": 2, "d2": 7}, [3]float64{0.5, 2, 7}},
		{"hours", map[string]float64{"0": 0, "8.5": 1.0 / 3, "24": 1, "99": 5}, [3]float64{0, 1.0 / 3, 1}},
		{"numcat", map[string]float64{"2": 20, "4": 40, "6": 60}, [3]float64{20, 40, 60}},
	}
	for _, c := range cases {
		set, err := Load("testdata/dense.h5ad", Options{TimeKey: c.key, TimeValues: c.values, TimeOrder: []string{"ignored"}})
		if err != nil {
			t.Errorf("%s: %v", c.key, err)
			continue
		}
		for i, v := range set.T {
			if v != c.want[i%3] {
				t.Errorf("%s: cell %d has time %v, want %v", c.key, i, v, c.want[i%3])
				break
			}
		}
	}
}

// TestEmbryoidBody reads a file anndata wrote from the embryoid-body cells
// and compares it with the NPZ those cells came from: obsm/X_pca holds the
// first five PCs exactly, the day categories map to days 0-4, and the CSR X
// holds float32 copies of the PCs with |x| <= 1 zeroed.
func TestEmbryoidBody(t *testing.T) {
	arch, err := npz.ReadFile("testdata/eb_val_pc5.npz")
	if err != nil {
		t.Fatal(err)
	}
	pcs, days := arch.Get("x").Float, arch.Get("t").Float
	set, err := Load("testdata/eb_val_csr_pc5.h5ad", Options{TimeKey: "day", Obsm: "X_pca"})
	if err != nil {
		t.Fatal(err)
	}
	if set.D != 5 || !slices.Equal(set.X, pcs) || !slices.Equal(set.T, days) {
		t.Errorf("X_pca or days differ from the NPZ (dimension %d)", set.D)
	}
	set, err = Load("testdata/eb_val_csr_pc5.h5ad", Options{TimeKey: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if set.D != 100 || set.Len() != 1000 {
		t.Fatalf("X is %d×%d, want 1000×100", set.Len(), set.D)
	}
	for i := range set.Len() {
		for j := range 5 {
			want := float64(float32(pcs[i*5+j]))
			if math.Abs(want) <= 1 {
				want = 0
			}
			if got := set.Row(i)[j]; got != want {
				t.Fatalf("X[%d, %d] = %v, want %v", i, j, got, want)
			}
		}
	}
}

// errCases are refusals and their exact messages (after "FILE: "): every
// problem with an HDF5 object names its full path in the file (issue 19).
var errCases = []struct {
	file string
	opts Options
	want string
}{
	{"dense.h5ad", Options{TimeKey: "time"}, `obs column "time" (/obs/time): no such column in obs (columns: constant, day, flag, hours, label, numcat, short, stage)`},
	{"dense.h5ad", Options{TimeKey: "constant"}, `obs column "constant" (/obs/constant): holds only one time value ("0"); at least two snapshots are needed`},
	{"dense.h5ad", Options{TimeKey: "day", Obsm: "X_tsne"}, `/obsm has no key "X_tsne" (present: X_pca, X_umap)`},
	{"dense.h5ad", Options{TimeKey: "day", Layer: "spliced"}, `/layers has no layer "spliced" (present: big_endian, counts, shuffled, sparse, tiny_chunks)`},
	{"v07.h5ad", Options{TimeKey: "hours", Layer: "counts"}, `no /layers group, so no layer "counts"`},
	{"dense.h5ad", Options{TimeKey: "day", Layer: "counts", Obsm: "X_pca"}, `obsm "X_pca" and layer "counts" both given; choose one`},
	{"dense.h5ad", Options{}, `no time key given (the obs column holding each cell's time)`},
	{"days.h5ad", Options{TimeKey: "phase", Obsm: "X_pca"}, `obs column "phase" (/obs/phase): holds categories in text order (anndata's default, not a time order) ("early", "late", "mid"); give their order with --time-order or their times with --time-values`},
	{"days.h5ad", Options{TimeKey: "n_counts", Obsm: "X_pca"}, `obs column "n_counts" (/obs/n_counts): gives 150 snapshots (more than 50, e.g. "33", "1032", "2047"); it does not look like a time: name the obs column of each cell's time with --time-key (or give --time-values to use it anyway)`},
	{"days.h5ad", Options{TimeKey: "day", Obsm: "X_pca", TimeValues: map[string]float64{"D0": 0, "D2": 2, "D4": 4, "D6": 6, "D10": 6}}, `obs column "day" (/obs/day): labels "D10" and "D6" are both given the time 6 in --time-values (their cells would merge into one snapshot; give each label its own time)`},
	{"dense.h5ad", Options{TimeKey: "label", TimeOrder: []string{"d0", "d2"}}, `obs column "label" (/obs/label): label "d1" is not in --time-order d0,d2 (labels: "d0", "d1", "d2")`},
	{"dense.h5ad", Options{TimeKey: "stage", TimeOrder: []string{"early", "mid", "early"}}, `obs column "stage" (/obs/stage): label "early" appears twice in --time-order`},
	{"dense.h5ad", Options{TimeKey: "stage", TimeValues: map[string]float64{"early": 0, "late": 1}}, `obs column "stage" (/obs/stage): label "mid" has no time in --time-values (labels: "early", "mid", "late")`},
	{"dense.h5ad", Options{TimeKey: "hours", TimeValues: map[string]float64{"0": 0, "8.5": math.NaN(), "24": 1}}, `obs column "hours" (/obs/hours): label "8.5" is given the time NaN in --time-values (expected a finite number)`},
	{"nan.h5ad", Options{TimeKey: "day"}, `/X: row 3, column 2 holds NaN (expected finite numbers)`},
	{"dense.h5ad", Options{TimeKey: "short", Obsm: "X_pca"}, `/obsm/X_pca has 30 rows, obs column "short" (/obs/short) 29 values`},
	{"no_x.h5ad", Options{TimeKey: "day"}, `not an AnnData file with X: no X (choose a matrix with --obsm or --layer)`},
	{"nullable.h5ad", Options{TimeKey: "day_masked"}, `obs column "day_masked" (/obs/day_masked/mask): row 5 has no value (masked)`},
	{"not_anndata.h5ad", Options{TimeKey: "day"}, `not an AnnData file: no obs group`},
	{"not_hdf5.h5ad", Options{TimeKey: "day"}, `not an AnnData file: not an HDF5 file`},
	{"track_order.h5ad", Options{TimeKey: "day"}, `malformed HDF5 file: / (object at address 96) keeps its links in dense storage (a fractal heap), which is not supported; rewrite the file with anndata's write_h5ad`},
	{"cycle.h5ad", Options{TimeKey: "day"}, `malformed HDF5 file: hard links form a cycle through /obs/loop (the object at address 195)`},
	{"missing.h5ad", Options{TimeKey: "day"}, `cannot read: no such file or directory`},
	{"", Options{TimeKey: "day"}, `is a directory, expected an .h5ad file`},
	{"latest.h5ad", Options{TimeKey: "hours", Layer: "shuffled"}, `/layers/shuffled: chunk index type 3 (files written with libver='latest') is not supported`},
}

func TestLoadErrors(t *testing.T) {
	for _, c := range errCases {
		path := filepath.Join("testdata", c.file)
		_, err := Load(path, c.opts)
		if err == nil {
			t.Errorf("%s %+v: no error, want %q", c.file, c.opts, c.want)
			continue
		}
		if msg := err.Error(); msg != path+": "+c.want {
			t.Errorf("%s %+v: error\n%s\nwant\n%s: %s", c.file, c.opts, msg, path, c.want)
		}
	}
}

// TestCorruptFiles cuts and flips bytes of the fixtures: every result is a
// set or a one-line error naming the file, never a panic.
func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"dense.h5ad", "csr_gzip.h5ad", "v07.h5ad", "latest.h5ad"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		try := func(bad []byte) {
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path, Options{TimeKey: "stage"}); err != nil {
				checkError(t, path, err)
			}
		}
		for cut := 0; cut < len(data); cut += 1999 {
			try(data[:cut])
		}
		for i := 0; i < len(data); i += 997 {
			bad := slices.Clone(data)
			bad[i] ^= 0xff
			try(bad)
		}
	}
}

func checkError(t *testing.T, path string, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q is not one line starting with the file name", msg)
	}
	if strings.Contains(msg, "internal error") {
		t.Errorf("Load panicked: %v", msg)
	}
}

// TestDayLabels reads the time columns of days.h5ad (make_days.py, written
// by anndata): day names whose categories anndata sorted as text (D0, D10,
// D2, …) are timed by their numbers, an unused category is dropped with a
// note, an ordered categorical keeps its order without its unused
// categories, and the labels are recorded in the meta.
func TestDayLabels(t *testing.T) {
	path := "testdata/days.h5ad"
	want, err := Load(path, Options{TimeKey: "day_num", Obsm: "X_pca"})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	note := func(s string) { notes = append(notes, s) }
	set, err := Load(path, Options{TimeKey: "day", Obsm: "X_pca", Note: note})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.T, want.T) || !slices.Equal(set.Times(), []float64{0, 2, 4, 6, 10}) {
		t.Errorf("day gives times %v, want those of day_num %v", set.Times(), want.Times())
	}
	wantNotes := []string{
		`obs column "day": categories that no cell carries are dropped: "D8"`,
		`obs column "day": times D0=0, D2=2, D4=4, D6=6, D10=10 (the number in each label)`,
	}
	if !slices.Equal(notes, wantNotes) {
		t.Errorf("notes\n%q\nwant\n%q", notes, wantNotes)
	}
	if got := string(set.Meta); got != `{"time_labels":[{"label":"D0","t":0},{"label":"D2","t":2},{"label":"D4","t":4},{"label":"D6","t":6},{"label":"D10","t":10}]}` {
		t.Errorf("meta %s", got)
	}
	if got := set.Info().Labels; !slices.Equal(got, []string{"D0", "D2", "D4", "D6", "D10"}) {
		t.Errorf("info labels %q", got)
	}
	if want.Meta != nil {
		t.Errorf("numeric times record labels: %s", want.Meta)
	}

	notes = nil
	set, err = Load(path, Options{TimeKey: "stage", Obsm: "X_pca", Note: note})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range set.T {
		if v != float64(i%2) {
			t.Fatalf("stage: cell %d has time %v, want %d (early 0, late 1: the unused mid keeps no slot)", i, v, i%2)
		}
	}
	wantNotes = []string{
		`obs column "stage": categories that no cell carries are dropped: "mid", "post"`,
		`obs column "stage": times early=0, late=1 (the file's category order, one apart)`,
	}
	if !slices.Equal(notes, wantNotes) {
		t.Errorf("notes\n%q\nwant\n%q", notes, wantNotes)
	}

	// A string column whose labels carry one number each; the
	// embryoid-body windows (Day 00-03 …) carry two and keep their order.
	set, err = Load("testdata/dense.h5ad", Options{TimeKey: "label"})
	if err != nil || !slices.Equal(set.Times(), []float64{0, 1, 2}) {
		t.Errorf("label d0, d1, d2: times %v, error %v; want 0, 1, 2", set.Times(), err)
	}
	notes = nil
	set, err = Load("testdata/eb_val_csr_pc5.h5ad", Options{TimeKey: "day", Obsm: "X_pca", Note: note})
	if err != nil || !slices.Equal(set.Times(), []float64{0, 1, 2, 3, 4}) || len(notes) != 1 ||
		notes[0] != `obs column "day": times Day 00-03=0, Day 06-09=1, Day 12-15=2, Day 18-21=3, Day 24-27=4 (the order of the numbers in each label, one apart; give --time-values for the real times)` {
		t.Errorf("embryoid body: times %v, notes %q, error %v", set.Times(), notes, err)
	}
}
