package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// daysCells is the anndata-written file of make_days.py: days D0 … D10
// whose categories anndata sorted as text, an unused category, raw counts
// in X (120 genes), a non-time column n_counts.
var daysCells = filepath.Join("..", "..", "data", "h5ad", "testdata", "days.h5ad")

// jkExact runs a command that must fail with exactly the line want on
// stderr and nothing on stdout (no help text).
func jkExact(t *testing.T, want string, args ...string) {
	t.Helper()
	status, out, errOut := jk(t, args...)
	if status == 0 || out != "" || errOut != want+"\n" {
		t.Errorf("jkonet-gpu %s: status %d, stdout %q, stderr\n%q\nwant status 1, no stdout, stderr\n%q", strings.Join(args, " "), status, out, errOut, want+"\n")
	}
}

// TestOneLineUsageErrors: a mistyped flag or command, or a missing flag, is
// one line naming the closest name and where the help is, never the help.
func TestOneLineUsageErrors(t *testing.T) {
	jkExact(t, "jkonet-gpu: train: unknown flag --dim; did you mean --dims? (see jkonet-gpu train --help)", "train", "--dim", "3")
	jkExact(t, "jkonet-gpu: info: unknown flag --tim-key; did you mean --time-key? (see jkonet-gpu info --help)", "info", "--data", "x.npz", "--tim-key", "day")
	jkExact(t, "jkonet-gpu: plot: unknown flag --zzz (see jkonet-gpu plot --help)", "plot", "--zzz")
	jkExact(t, `jkonet-gpu: unknown command "trian"; did you mean train? (see jkonet-gpu --help)`, "trian")
	jkExact(t, `jkonet-gpu: unknown command "sptil"; did you mean split? (see jkonet-gpu --help)`, "sptil")
	jkExact(t, "jkonet-gpu: unknown flag --bogus (see jkonet-gpu --help)", "--bogus")
	jkExact(t, "jkonet-gpu: train: --data, --out are required (see jkonet-gpu train --help)", "train")
	jkExact(t, "jkonet-gpu: generate: --potential is required (see jkonet-gpu generate --help)", "generate", "--out", "x.npz")
	jkExact(t, "jkonet-gpu: eval: flag needs an argument: -model (see jkonet-gpu eval --help)", "eval", "--model")
}

// TestDayLabelsCLI: day names are timed by their numbers whatever the
// category order, info shows each snapshot's label, the mapping and the
// dropped category are named once on stderr, and columns whose order or
// meaning cannot be read are refused in one line.
func TestDayLabelsCLI(t *testing.T) {
	read := []string{"--data", daysCells, "--time-key", "day", "--obsm", "X_pca"}
	status, out, errOut := jk(t, append([]string{"info"}, read...)...)
	wantOut := daysCells + `: 150 rows, d = 5, 5 snapshots
  t = 0          D0               30 particles
  t = 2          D2               30 particles
  t = 4          D4               30 particles
  t = 6          D6               30 particles
  t = 10         D10              30 particles
`
	wantErr := "note: " + daysCells + `: obs column "day": categories that no cell carries are dropped: "D8"
note: ` + daysCells + `: obs column "day": times D0=0, D2=2, D4=4, D6=6, D10=10 (the number in each label)
`
	if status != 0 || out != wantOut || errOut != wantErr {
		t.Errorf("info: status %d\n%s\n%s\nwant\n%s\n%s", status, out, errOut, wantOut, wantErr)
	}
	var inf struct {
		Times  []float64
		Labels []string
	}
	if err := json.Unmarshal([]byte(mustRun(t, append([]string{"info", "--json"}, read...)...)), &inf); err != nil ||
		!slices.Equal(inf.Times, []float64{0, 2, 4, 6, 10}) || !slices.Equal(inf.Labels, []string{"D0", "D2", "D4", "D6", "D10"}) {
		t.Errorf("info --json: times %v, labels %q (%v)", inf.Times, inf.Labels, err)
	}
	p := "jkonet-gpu: " + daysCells + ": "
	jkExact(t, p+`obs column "phase" (/obs/phase): holds categories in text order (anndata's default, not a time order) ("early", "late", "mid"); give their order with --time-order or their times with --time-values`,
		"info", "--data", daysCells, "--time-key", "phase", "--obsm", "X_pca")
	jkExact(t, p+`obs column "n_counts" (/obs/n_counts): gives 150 snapshots (more than 50, e.g. "33", "1032", "2047"); it does not look like a time: name the obs column of each cell's time with --time-key (or give --time-values to use it anyway)`,
		"train", "--data", daysCells, "--time-key", "n_counts", "--obsm", "X_pca", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	jkExact(t, `jkonet-gpu: --time-values: labels "D4" and "D6" are both given the time 4 (their cells would merge into one snapshot; give each label its own time)`,
		append([]string{"info", "--time-values", "D0=0,D2=2,D4=4,D6=4,D10=10"}, read...)...)
}

// TestRawGenes: training on X's 120 raw-count genes without an embedding
// or a transform is refused with what to add; --dims lets it go on; --pca
// on raw counts notes that they want normalising first.
func TestRawGenes(t *testing.T) {
	dir := t.TempDir()
	want := "jkonet-gpu: " + daysCells + ": X has 120 columns (raw genes?); training on more than 100 untransformed columns is slow and rarely meant: take an embedding with --obsm X_pca, or reduce with --normalize --pca 30, or give --dims 120 to train on all of them"
	jkExact(t, want, "train", "--data", daysCells, "--time-key", "day_num", "--out", filepath.Join(dir, "m.safetensors"), "--quiet")
	jkExact(t, want, "preprocess", "--data", daysCells, "--time-key", "day_num", "--out", filepath.Join(dir, "c.npz"), "--quiet")
	mustRun(t, "preprocess", "--data", daysCells, "--time-key", "day_num", "--dims", "120", "--out", filepath.Join(dir, "c.npz"), "--quiet")
	status, _, errOut := jk(t, "info", "--data", daysCells, "--time-key", "day_num", "--pca", "3")
	if wantNote := "note: " + daysCells + ": X holds whole non-negative numbers, like raw counts: add --normalize to normalise them before --pca (counts per cell to one total, then log1p, as scanpy's normalize_total and log1p), or take an embedding with --obsm X_pca\n"; status != 0 || errOut != wantNote {
		t.Errorf("info --pca 3 on counts: status %d, stderr %q, want %q", status, errOut, wantNote)
	}
	if _, _, errOut := jk(t, "info", "--data", daysCells, "--time-key", "day_num", "--obsm", "X_pca", "--pca", "3"); errOut != "" {
		t.Errorf("--pca on an embedding notes %q", errOut)
	}
}

// TestPredictInModelSpace: predict records the model's transform and the
// day names with its points, so distance maps raw test cells into the
// model's space (one note) instead of failing on d = 2 against d = 5, and
// names the transform when the spaces cannot meet.
func TestPredictInModelSpace(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, slices.Concat([]string{"split", "--data", ebCells, "--by", "population", "--test-fraction", "0.4", "--seed", "0",
		"--train", at("train.npz"), "--test", at("test.npz"), "--quiet"}, ebRead)...)
	mustRun(t, "train", "--data", at("train.npz"), "--dims", "2", "--standardize", "--model", "linear-potential", "--out", at("m.safetensors"), "--quiet")
	mustRun(t, "predict", "--model", at("m.safetensors"), "--data", at("test.npz"), "--out", at("p.npz"), "--quiet")
	pred := loadSet(t, at("p.npz"))
	if tr, err := cells.FromMeta(pred.Meta); err != nil || tr == nil || tr.Options().String() != "--dims 2 --standardize" {
		t.Errorf("predictions record the transform %v (%v), want --dims 2 --standardize", tr, err)
	}
	if got := pred.Info().Labels; !slices.Equal(got, []string{"Day 06-09", "Day 12-15", "Day 18-21", "Day 24-27"}) {
		t.Errorf("predictions carry the labels %q", got)
	}
	status, out, errOut := jk(t, "distance", "--a", at("p.npz"), "--b", at("test.npz"))
	if want := "note: " + at("test.npz") + " is mapped with the transform " + at("p.npz") + " records (--dims 2 --standardize) before measuring\n"; status != 0 || !strings.HasPrefix(out, "W1 = ") || errOut != want {
		t.Errorf("distance: status %d, stdout %q, stderr %q; want W1 and %q", status, out, errOut, want)
	}
	three := &snapshot.Set{D: 3, X: []float64{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, T: []float64{0, 0, 1, 1}}
	if err := three.Save(at("three.npz")); err != nil {
		t.Fatal(err)
	}
	jkExact(t, "jkonet-gpu: "+at("p.npz")+" has d = 2 but "+at("three.npz")+" has d = 3: "+at("p.npz")+" is in the coordinates of its transform (--dims 2 --standardize, for input d = 5)",
		"distance", "--a", at("p.npz"), "--b", at("three.npz"))
}

// TestReadmeWalkthrough runs the README's "Single-cell time courses"
// commands as written (from the repository root: the paths under data/
// are the repository's; the files it writes go to a temporary folder).
func TestReadmeWalkthrough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Single-cell time courses\n")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md: no sh block under "## Single-cell time courses"`)
	}
	dir := t.TempDir()
	lines := strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n")
	ran := 0
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		words := shellWords(t, line)
		if words[0] != "jkonet-gpu" {
			t.Fatalf("README walkthrough line %q does not run jkonet-gpu", line)
		}
		args := words[1:]
		for i, a := range args {
			switch {
			case strings.HasPrefix(a, "data/"):
				args[i] = filepath.Join("..", "..", a)
			case strings.HasSuffix(a, ".npz") || strings.HasSuffix(a, ".safetensors") || strings.HasSuffix(a, ".png") || strings.HasSuffix(a, ".h5ad"):
				args[i] = filepath.Join(dir, a)
			}
		}
		mustRun(t, args...)
		ran++
	}
	if ran != 6 {
		t.Errorf("ran %d commands, want the walkthrough's 6", ran)
	}
	for _, out := range []string{"fig.png", "pred.h5ad"} {
		if _, err := os.Stat(filepath.Join(dir, out)); err != nil {
			t.Error(err)
		}
	}
}

// shellWords splits a command line as sh would for the README's lines:
// spaces separate words, single quotes keep spaces.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unclosed quote in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestPlotWarnsOnTimes: plot, like predict and eval, warns when the cells'
// times are not the model's training times (days here, indices there).
func TestPlotWarnsOnTimes(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, slices.Concat([]string{"train", "--data", ebCells, "--dims", "2", "--model", "linear-potential", "--out", model, "--quiet"}, ebRead)...)
	status, _, errOut := jk(t, slices.Concat([]string{"plot", "--model", model, "--data", ebCells, "--time-values", ebDays, "--out", filepath.Join(dir, "f.png")}, ebRead)...)
	want := "warning: " + ebCells + " has times [1.5 7.5 13.5 19.5 25.5] that " + model + " was not trained at (it was at [0 1 2 3 4]); τ and the time input come from the labels, so check --time-values\n"
	if status != 0 || !strings.HasSuffix(errOut, want) {
		t.Errorf("plot: status %d, stderr\n%s\nwant it to end with\n%s", status, errOut, want)
	}
}
