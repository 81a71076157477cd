package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
)

// jk runs the CLI in-process and returns its exit status, stdout and stderr.
func jk(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run(append([]string{"jkonet-gpu"}, args...), &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

// mustRun fails the test unless the command succeeds.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	status, out, errOut := jk(t, args...)
	if status != 0 {
		t.Fatalf("jkonet-gpu %s: status %d: %s", strings.Join(args, " "), status, errOut)
	}
	return out
}

// mustFail checks that a command fails with one line on stderr containing
// want, no stack trace, and leaves no file in dir beyond those listed.
func mustFail(t *testing.T, dir string, keep []string, want string, args ...string) {
	t.Helper()
	status, _, errOut := jk(t, args...)
	if status == 0 {
		t.Fatalf("jkonet-gpu %s: succeeded, want failure", strings.Join(args, " "))
	}
	if strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 || strings.Contains(errOut, "goroutine") {
		t.Fatalf("jkonet-gpu %s: stderr is not one line:\n%s", strings.Join(args, " "), errOut)
	}
	if !strings.Contains(errOut, want) {
		t.Fatalf("jkonet-gpu %s: stderr %q does not contain %q", strings.Join(args, " "), errOut, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		found := false
		for _, k := range keep {
			found = found || e.Name() == k
		}
		if !found {
			t.Fatalf("jkonet-gpu %s: left file %s behind", strings.Join(args, " "), e.Name())
		}
	}
}

func TestGenerateSplitInfo(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all.npz")
	mustRun(t, "generate", "--potential", "wavy_plateau", "--interaction", "sphere", "--beta", "0.1",
		"--particles", "40", "--steps", "3", "--seed", "5", "--quiet", "--out", all)
	set, err := snapshot.Load(all, snapshot.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if set.D != 2 || len(set.T) != 160 || len(set.ID) != 160 || set.DT != 0.01 {
		t.Fatalf("generated set: d=%d rows=%d ids=%d dt=%v", set.D, len(set.T), len(set.ID), set.DT)
	}
	if !strings.Contains(string(set.Meta), `"potential":"wavy_plateau"`) || !strings.Contains(string(set.Meta), `"interaction":"sphere"`) {
		t.Fatalf("meta %s", set.Meta)
	}
	// Same seed, byte-identical file.
	again := filepath.Join(dir, "again.npz")
	mustRun(t, "generate", "--potential", "wavy_plateau", "--interaction", "sphere", "--beta", "0.1",
		"--particles", "40", "--steps", "3", "--seed", "5", "--quiet", "--out", again)
	a, _ := os.ReadFile(all)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different files")
	}

	train, test := filepath.Join(dir, "train.npz"), filepath.Join(dir, "test.npz")
	for _, by := range []string{"trajectory", "population", "independent"} {
		mustRun(t, "split", "--data", all, "--by", by, "--train", train, "--test", test, "--quiet")
		tr, err1 := snapshot.Load(train, snapshot.LoadOptions{})
		te, err2 := snapshot.Load(test, snapshot.LoadOptions{})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		want := 160
		if by == "independent" {
			want = 40 // every id kept once
		}
		if len(tr.T)+len(te.T) != want {
			t.Fatalf("--by %s: %d + %d rows, want %d", by, len(tr.T), len(te.T), want)
		}
		checkSplitRows(t, by, set, tr, te)
	}
	out := mustRun(t, "info", "--data", all)
	for _, want := range []string{"d = 2", "160"} {
		if !strings.Contains(out, want) {
			t.Fatalf("info output lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, "version"); !strings.HasPrefix(out, "jkonet-gpu ") {
		t.Fatalf("version printed %q", out)
	}
}

// TestGenerateWarnsWhenStepsFold: bohachevsky at dt = 0.01 folds space, so
// generate warns and stores the fractions; at dt = 0.001 it does not.
func TestGenerateWarnsWhenStepsFold(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dt    string
		folds bool
	}{{"0.01", true}, {"0.001", false}} {
		out := filepath.Join(dir, "b"+tc.dt+".npz")
		status, _, errOut := jk(t, "generate", "--potential", "bohachevsky", "--dt", tc.dt, "--particles", "400", "--steps", "2", "--quiet", "--out", out)
		if status != 0 {
			t.Fatalf("dt %s: status %d: %s", tc.dt, status, errOut)
		}
		if warned := strings.Contains(errOut, "folds space"); warned != tc.folds {
			t.Errorf("dt %s: warned %v, want %v (stderr %q)", tc.dt, warned, tc.folds, errOut)
		}
		set, err := snapshot.Load(out, snapshot.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var meta simulate.Spec
		if err := json.Unmarshal(set.Meta, &meta); err != nil || len(meta.Folded) != 2 {
			t.Fatalf("dt %s: meta %s (%v)", tc.dt, set.Meta, err)
		}
		if folded := slices.Max(meta.Folded) > simulate.FoldWarning; folded != tc.folds {
			t.Errorf("dt %s: stored fractions %v", tc.dt, meta.Folded)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, cmd := range newApp(nil, nil).Commands {
		out := mustRun(t, cmd.Name, "--help")
		if !strings.Contains(out, cmd.Name) || !strings.Contains(out, "USAGE") {
			t.Fatalf("%s --help printed:\n%s", cmd.Name, out)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npz")
	mustRun(t, "generate", "--potential", "flat", "--particles", "10", "--steps", "1", "--quiet", "--out", good)
	notNPZ := filepath.Join(dir, "text.npz")
	os.WriteFile(notNPZ, []byte("hello"), 0o644)
	keep := []string{"good.npz", "text.npz"}
	out := filepath.Join(dir, "out.npz")
	gen := func(extra ...string) []string {
		return append([]string{"generate", "--potential", "flat", "--particles", "10", "--steps", "1", "--quiet", "--out", out}, extra...)
	}
	cases := []struct {
		want string
		args []string
	}{
		{"--potential: unknown test function", []string{"generate", "--potential", "nope", "--out", out}},
		{"dim", gen("--dim", "0")},
		{"particles", gen("--particles", "1")},
		{"steps", gen("--steps", "0")},
		{"beta", gen("--beta", "-1")},
		{"no/such/dir", []string{"generate", "--potential", "flat", "--out", filepath.Join(dir, "no/such/dir/x.npz")}},
		{"missing.npz", []string{"info", "--data", filepath.Join(dir, "missing.npz")}},
		{"text.npz", []string{"info", "--data", notNPZ}},
		{"text.npz", []string{"split", "--data", notNPZ, "--train", out, "--test", filepath.Join(dir, "te.npz")}},
		{"by", []string{"split", "--data", good, "--by", "nope", "--train", out, "--test", filepath.Join(dir, "te.npz")}},
		{"fraction", []string{"split", "--data", good, "--test-fraction", "1.5", "--train", out, "--test", filepath.Join(dir, "te.npz")}},
		{"info: unknown flag --nope (see jkonet-gpu info --help)", []string{"info", "--nope"}},
	}
	for _, c := range cases {
		mustFail(t, dir, keep, c.want, c.args...)
	}
}

// writeNPZWithNaN writes a snapshot file whose x holds a NaN, bypassing
// Set.Save's validation.
func writeNPZWithNaN(t *testing.T, path string) {
	t.Helper()
	err := npz.WriteFile(path, npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{2, 1}, []float64{0, math.NaN()})},
		{Name: "t", Array: npz.FromFloat64([]int{2}, []float64{0, 1})},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkSplitRows checks the values a split wrote: every row of train and
// test is a row of the original set (same id, time and coordinates), no row
// is in both, and --by trajectory keeps each id on one side, --by
// independent each id in one snapshot.
func checkSplitRows(t *testing.T, by string, all, train, test *snapshot.Set) {
	t.Helper()
	type key struct {
		id int64
		t  float64
	}
	rows := map[key][]float64{}
	for i := range all.T {
		rows[key{all.ID[i], all.T[i]}] = all.X[i*all.D : (i+1)*all.D]
	}
	seen, side := map[key]bool{}, map[int64]string{}
	for name, s := range map[string]*snapshot.Set{"train": train, "test": test} {
		for i := range s.T {
			k := key{s.ID[i], s.T[i]}
			if x, ok := rows[k]; !ok || !slices.Equal(x, s.X[i*s.D:(i+1)*s.D]) {
				t.Fatalf("--by %s: %s row %d (id %d, t %g) is not a row of the data", by, name, i, k.id, k.t)
			}
			if seen[k] {
				t.Fatalf("--by %s: id %d at t %g is in both halves or twice", by, k.id, k.t)
			}
			seen[k] = true
			if s, ok := side[k.id]; ok && (by == "independent" || (by == "trajectory" && s != name)) {
				t.Fatalf("--by %s: id %d appears in %s and %s", by, k.id, s, name)
			}
			side[k.id] = name
		}
	}
}
