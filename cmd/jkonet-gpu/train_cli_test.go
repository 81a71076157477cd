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

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// smallRun generates and splits a small data set and returns the train and
// test paths.
func smallRun(t *testing.T, dir string, extra ...string) (string, string) {
	t.Helper()
	all, train, test := filepath.Join(dir, "all.npz"), filepath.Join(dir, "train.npz"), filepath.Join(dir, "test.npz")
	mustRun(t, append([]string{"generate", "--potential", "wavy_plateau", "--particles", "80", "--steps", "3", "--quiet", "--out", all}, extra...)...)
	mustRun(t, "split", "--data", all, "--train", train, "--test", test, "--quiet")
	return train, test
}

func TestTrainPredictEvalPlot(t *testing.T) {
	dir := t.TempDir()
	train, test := smallRun(t, dir, "--interaction", "sphere", "--beta", "0.1")
	for _, kind := range []string{"jkonet-star", "potential", "potential-internal", "potential-interaction", "time-potential", "linear", "linear-potential"} {
		model := filepath.Join(dir, kind+".safetensors")
		mustRun(t, "train", "--data", train, "--model", kind, "--epochs", "2", "--batch-size", "50", "--quiet", "--out", model)
		f, err := modelfile.Load(model)
		if err != nil || f.Kind != kind || f.Dim != 2 || len(f.Times) != 4 {
			t.Fatalf("%s: model file %+v, %v", kind, f, err)
		}
		var res evalResult
		out := mustRun(t, "eval", "--model", model, "--data", test, "--json")
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: eval --json printed %q", kind, out)
		}
		if res.Metric != "w1" || len(res.Transitions) != 3 || res.Baselines["no_motion"].Mean <= 0 || len(res.Baselines["oracle"].Transitions) != 3 {
			t.Fatalf("%s: eval result %+v", kind, res)
		}
		if hasBeta := kind == "jkonet-star" || kind == "potential-internal" || kind == "linear"; hasBeta != (res.Beta != nil) {
			t.Fatalf("%s: beta reported %v", kind, res.Beta)
		}
	}
	model := filepath.Join(dir, "potential.safetensors")
	pred := filepath.Join(dir, "pred.npz")
	mustRun(t, "predict", "--model", model, "--data", test, "--out", pred, "--quiet")
	p, err := snapshot.Load(pred, snapshot.LoadOptions{})
	if err != nil || len(p.Times()) != 3 || p.Times()[0] != 1 || len(p.T) != 120 {
		t.Fatalf("prediction: %v, times %v", err, p.Times())
	}
	checkPredictAndEval(t, model, test, p)
	png := filepath.Join(dir, "fig.png")
	mustRun(t, "plot", "--model", model, "--data", test, "--truth", "wavy_plateau", "--out", png)
	if b, _ := os.ReadFile(png); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatal("plot did not write a PNG")
	}
	// The oracle alone, from --truth: the data's dt, β and interaction are
	// given by flags here.
	out := mustRun(t, "eval", "--truth", "wavy_plateau", "--interaction", "sphere", "--beta", "0.1", "--data", test)
	if !strings.Contains(out, "truth wavy_plateau") {
		t.Fatalf("eval --truth printed %q", out)
	}
}

// TestResumeExtendsBitForBit: 2 epochs, then --resume to 4, equals 4 epochs
// straight.
func TestResumeExtendsBitForBit(t *testing.T) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	straight, half := filepath.Join(dir, "straight.safetensors"), filepath.Join(dir, "half.safetensors")
	args := []string{"train", "--data", train, "--model", "jkonet-star", "--batch-size", "50", "--quiet", "--seed", "3"}
	mustRun(t, append(args, "--epochs", "4", "--out", straight)...)
	mustRun(t, append(args, "--epochs", "2", "--out", half, "--checkpoint-every", "1")...)
	resumed := filepath.Join(dir, "resumed.safetensors")
	mustRun(t, append(args, "--epochs", "4", "--out", resumed, "--resume", half+".ckpt")...)
	a, err1 := modelfile.Load(straight)
	b, err2 := modelfile.Load(resumed)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for i := range a.Params {
		if a.Params[i] != b.Params[i] {
			t.Fatalf("parameter %d: %v straight, %v resumed", i, a.Params[i], b.Params[i])
		}
	}
	keep := []string{"all.npz", "train.npz", "test.npz", "straight.safetensors", "straight.safetensors.ckpt", "half.safetensors", "half.safetensors.ckpt", "resumed.safetensors", "resumed.safetensors.ckpt"}
	mustFail(t, dir, keep,
		"--lr 0.001, not 0.01", append(args, "--epochs", "4", "--lr", "0.01", "--out", filepath.Join(dir, "x.safetensors"), "--resume", half+".ckpt")...)
	// The default's 16 stratified samples are not the 16 independent ones.
	mustFail(t, dir, keep,
		"--interaction-samples 16 stratified, not 16", append(args, "--epochs", "4", "--interaction-samples", "16", "--out", filepath.Join(dir, "x.safetensors"), "--resume", half+".ckpt")...)
}

func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", train, "--model", "potential", "--epochs", "1", "--quiet", "--out", model)
	os.WriteFile(filepath.Join(dir, "corrupt.safetensors"), []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "), 0o644)
	one := filepath.Join(dir, "one.npz")
	(&snapshot.Set{D: 2, X: []float64{1, 2, 3, 4}, T: []float64{0, 0}}).Save(one)
	d3 := filepath.Join(dir, "d3.npz")
	(&snapshot.Set{D: 3, X: make([]float64, 12), T: []float64{0, 0, 1, 1}}).Save(d3)
	keep := []string{"all.npz", "train.npz", "test.npz", "m.safetensors", "m.safetensors.ckpt", "corrupt.safetensors", "one.npz", "d3.npz"}
	out := filepath.Join(dir, "out.safetensors")
	cases := []struct {
		want string
		args []string
	}{
		{"--model: unknown model", []string{"train", "--data", train, "--model", "magic", "--out", out}},
		{"--epochs: expected at least 1", []string{"train", "--data", train, "--model", "potential", "--epochs", "0", "--out", out}},
		{"at least 2 snapshot times", []string{"train", "--data", one, "--model", "potential", "--out", out}},
		{"the model is for d = 2", []string{"eval", "--model", model, "--data", d3}},
		{"corrupt.safetensors", []string{"eval", "--model", filepath.Join(dir, "corrupt.safetensors"), "--data", train}},
		{"--model is required", []string{"eval", "--data", train}},
		{"--device: unknown device", []string{"train", "--data", train, "--model", "potential", "--device", "tpu", "--out", out}},
		{"--scheme", []string{"predict", "--model", model, "--data", train, "--scheme", "sideways", "--out", filepath.Join(dir, "p.npz")}},
	}
	for _, c := range cases {
		mustFail(t, dir, keep, c.want, c.args...)
	}
}

// TestBenchSmoke: every peer comparison prints a row with its ratio and
// agreement figures; a comparison whose peer is not installed says which
// module is missing, and the test then skips rather than pass on nothing.
func TestBenchSmoke(t *testing.T) {
	out := mustRun(t, "bench", "--sizes", "40", "--repeats", "1")
	var skipped []string
	for _, title := range []string{"exact OT", "Gaussian mixture", "training step"} {
		i := strings.Index(out, title)
		if i < 0 {
			t.Fatalf("bench output lacks %q:\n%s", title, out)
		}
		section := out[i:]
		if j := strings.Index(section[1:], "\n") + 1; j > 0 {
			section = section[j:] // from the first row on
		}
		switch {
		case strings.HasPrefix(section, "\n  skipped: ") && strings.Contains(strings.SplitN(section[1:], "\n", 2)[0], "not importable"):
			skipped = append(skipped, title)
		case strings.HasPrefix(section, "\n  ") && strings.Contains(strings.SplitN(section[1:], "\n", 2)[0], "ratio"):
		default:
			t.Fatalf("%s: neither a result row nor a skip naming the missing peer:\n%s", title, out)
		}
	}
	if len(skipped) > 0 {
		t.Skipf("peers not installed for %v (make peers)", skipped)
	}
}

// TestTrainingRecordRefusesNonFinite: a number JSON cannot hold is an error
// naming its field, not metadata silently dropped from the model file.
func TestTrainingRecordRefusesNonFinite(t *testing.T) {
	rec := modelfile.TrainingRecord{Model: "potential", LR: 1e-3, Beta: 0.1, Seconds: 2}
	if b, err := rec.Encode(); err != nil || !strings.Contains(string(b), `"lr":0.001`) {
		t.Fatalf("finite record: %s, %v", b, err)
	}
	rec.FinalLoss = math.NaN()
	if _, err := rec.Encode(); err == nil || err.Error() != "training record: final_loss is NaN, expected a finite number" {
		t.Fatalf("NaN final loss: %v", err)
	}
}

// TestFlagDefaultsAreTheLibraries: every default of the training and
// coupling flags is the library's (engine.DefaultSettings,
// couplings.DefaultOptions, and ot's for Sinkhorn), so the CLI and the
// libraries cannot drift apart.
func TestFlagDefaultsAreTheLibraries(t *testing.T) {
	s, o := engine.DefaultSettings(), couplings.DefaultOptions()
	if o.MaxIter != ot.DefaultSinkhornMaxIter || o.Tol != ot.DefaultSinkhornTol {
		t.Errorf("couplings.DefaultOptions has Sinkhorn cap %d and tolerance %g, ot's defaults are %d and %g",
			o.MaxIter, o.Tol, ot.DefaultSinkhornMaxIter, ot.DefaultSinkhornTol)
	}
	want := map[string]any{
		"epochs": s.Epochs, "batch-size": s.BatchSize, "lr": s.LR,
		"coupling": o.Method, "ot-block": o.Block, "epsilon": o.Epsilon, "epsilon-absolute": o.EpsilonAbsolute,
		"sinkhorn-tol": o.Tol, "sinkhorn-max-iter": o.MaxIter, "components": o.Components,
	}
	for _, f := range trainCommand.Flags {
		var got any
		switch f := f.(type) {
		case *cli.IntFlag:
			got = f.Value
		case *cli.Float64Flag:
			got = f.Value
		case *cli.StringFlag:
			got = f.Value
		case *cli.BoolFlag:
			got = f.Value
		}
		name := f.Names()[0]
		if w, ok := want[name]; ok {
			if got != w {
				t.Errorf("--%s defaults to %v, the library to %v", name, got, w)
			}
			delete(want, name)
		}
	}
	if len(want) != 0 {
		t.Errorf("train has no flags %v", want)
	}
}

// TestSameResultsWhateverTheCores: the whole pipeline (couplings, training,
// prediction) gives the same model tensors and a byte-identical prediction
// file with 1 and 3 OS threads. Only the model file's training.seconds (a
// wall-clock time) differs between runs.
func TestSameResultsWhateverTheCores(t *testing.T) {
	dir := t.TempDir()
	train, test := smallRun(t, dir, "--interaction", "sphere", "--beta", "0.1")
	var tensors [2][]float64
	var preds [2][]byte
	for i, procs := range []string{"1", "3"} {
		model, pred := filepath.Join(dir, "m"+procs+".safetensors"), filepath.Join(dir, "p"+procs+".npz")
		env := []string{"GOMAXPROCS=" + procs}
		if status, _, stderr := child(t, env, "train", "--data", train, "--model", "jkonet-star", "--device", "cpu", "--epochs", "3",
			"--batch-size", "40", "--quiet", "--out", model); status != 0 {
			t.Fatalf("train with GOMAXPROCS=%s: %s", procs, stderr)
		}
		if status, _, stderr := child(t, env, "predict", "--model", model, "--data", test, "--quiet", "--out", pred); status != 0 {
			t.Fatalf("predict with GOMAXPROCS=%s: %s", procs, stderr)
		}
		f, err := modelfile.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		tensors[i] = f.Params
		if preds[i], err = os.ReadFile(pred); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(tensors[0], tensors[1]) {
		t.Fatal("the model's tensors differ between GOMAXPROCS 1 and 3")
	}
	if !bytes.Equal(preds[0], preds[1]) {
		t.Fatal("the prediction files differ between GOMAXPROCS 1 and 3")
	}
}

// checkPredictAndEval checks the values predict wrote and eval reports for a
// network model against the libraries: the predicted points are
// evaluate.Predict's implicit step of the loaded model, eval's error of each
// transition is the exact W1 between predict's snapshot and the observed one,
// and its no-motion baseline the W1 between consecutive observed snapshots.
func checkPredictAndEval(t *testing.T, model, test string, pred *snapshot.Set) {
	t.Helper()
	f, err := modelfile.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	set, err := snapshot.Load(test, snapshot.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := evaluate.DefaultPredictOptions()
	opts.Scheme, opts.MeanInterval, opts.TimeOrigin = "implicit", f.MeanInterval, f.TimeOrigin()
	preds, err := evaluate.Predict(m, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := evaluate.ToSet(preds, set.D); !slices.Equal(pred.X, want.X) || !slices.Equal(pred.T, want.T) {
		t.Fatal("predict wrote other points than the model's implicit step")
	}
	var res evalResult
	if err := json.Unmarshal([]byte(mustRun(t, "eval", "--model", model, "--data", test, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	observed, predicted := set.Snapshots(), pred.Snapshots()
	var mean, noMotion float64
	for k := range predicted {
		w, err := ot.W1(predicted[k].X, observed[k+1].X, set.D)
		if err != nil {
			t.Fatal(err)
		}
		still, _ := ot.W1(observed[k].X, observed[k+1].X, set.D)
		if res.Transitions[k].Error != w || res.Baselines["no_motion"].Transitions[k].Error != still {
			t.Fatalf("transition %d: eval says %v (no motion %v), W1 of predict's output is %v (of the observed snapshots %v)",
				k, res.Transitions[k].Error, res.Baselines["no_motion"].Transitions[k].Error, w, still)
		}
		mean += w / float64(len(predicted))
		noMotion += still / float64(len(predicted))
	}
	if math.Abs(res.Mean-mean) > 1e-15 || math.Abs(res.Baselines["no_motion"].Mean-noMotion) > 1e-15 {
		t.Fatalf("eval means %v and %v, want %v and %v", res.Mean, res.Baselines["no_motion"].Mean, mean, noMotion)
	}
}
