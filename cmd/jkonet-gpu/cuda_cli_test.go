package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/bench"
	"github.com/jkonet-gpu/jkonet-gpu/engine/cuda"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// child runs the CLI in a child process (the test binary, see TestMain) with
// the extra environment, so that the CUDA driver library it opens is its own
// choice: a process opens the driver once.
func child(t *testing.T, env []string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "JKONET_GPU_AS_CLI=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

// emulatorEnv points the driver at the CPU emulator ($JKONET_EMULATOR_LIB,
// else bin/libcuda-emu.so); without it the test skips, or fails under
// JKONET_REQUIRE_EMULATOR=1.
func emulatorEnv(t *testing.T) []string {
	t.Helper()
	lib := os.Getenv("JKONET_EMULATOR_LIB")
	if lib == "" {
		lib, _ = filepath.Abs("../../bin/libcuda-emu.so")
	}
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("JKONET_REQUIRE_EMULATOR") == "1" {
			t.Fatalf("the CUDA emulator is missing (make emulator): %v", err)
		}
		t.Skipf("no CUDA emulator at %s (make emulator)", lib)
	}
	return []string{"JKONET_CUDA_LIB=" + lib}
}

// oneLine fails unless s is a single line without a stack trace.
func oneLine(t *testing.T, what, s string) {
	t.Helper()
	if s = strings.TrimRight(s, "\n"); s == "" || strings.Contains(s, "\n") || strings.Contains(s, "goroutine") {
		t.Fatalf("%s: want one line, got %q", what, s)
	}
}

// TestDeviceWithoutGPU: where no CUDA driver loads, --device cuda fails with
// one line and writes nothing, --device auto trains on the CPU and says why
// in one line, and bench --what gpu runs its CPU half.
func TestDeviceWithoutGPU(t *testing.T) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	env := []string{"JKONET_CUDA_LIB=" + filepath.Join(dir, "no-such", "libcuda.so.1")}
	out := filepath.Join(dir, "m.safetensors")
	status, _, stderr := child(t, env, "train", "--data", train, "--model", "potential", "--epochs", "2", "--device", "cuda", "--out", out)
	if status == 0 {
		t.Fatal("--device cuda without a driver succeeded")
	}
	oneLine(t, "--device cuda", stderr)
	if !strings.Contains(stderr, "--device cuda") || !strings.Contains(stderr, "cannot load the CUDA driver") {
		t.Fatalf("--device cuda: %q", stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // all, train and test
		t.Fatalf("--device cuda left files behind: %v", entries)
	}
	status, _, stderr = child(t, env, "train", "--data", train, "--model", "potential", "--epochs", "2", "--device", "auto", "--precision", "float32", "--out", out)
	if status != 0 {
		t.Fatalf("--device auto: %s", stderr)
	}
	oneLine(t, "--device auto", stderr)
	if !strings.HasPrefix(stderr, "device auto: using the CPU (CUDA unavailable: cannot load the CUDA driver") ||
		!strings.HasSuffix(strings.TrimSpace(stderr), "the CPU computes in float64") {
		t.Fatalf("--device auto: %q", stderr)
	}
	mustFail(t, dir, []string{"all.npz", "train.npz", "test.npz", "m.safetensors", "m.safetensors.ckpt"}, "--precision float32: the CPU computes in float64 only",
		"train", "--data", train, "--model", "potential", "--device", "cpu", "--precision", "float32", "--out", filepath.Join(dir, "x.safetensors"))
	status, stdout, stderr := child(t, env, "bench", "--what", "gpu", "--sizes", "100", "--dims", "2", "--targets", "10", "--seconds", "0", "--repeats", "1")
	if status != 0 || !strings.Contains(stdout, "no GPU (cannot load the CUDA driver") || strings.Count(stdout, "no GPU") != 1 || !strings.Contains(stdout, "P100 d2 U exact over 10") {
		t.Fatalf("bench --what gpu without a GPU: status %d\n%s%s", status, stdout, stderr)
	}
}

// TestTrainOnEmulator: the whole CUDA backend (host code, kernels, launch
// geometry) through the CLI on the CPU emulator reaches the one-step W1 of
// the CPU backend within 5% on data generated with a potential and an
// interaction, and records the device and precision it trained with.
func TestTrainOnEmulator(t *testing.T) {
	env := emulatorEnv(t)
	dir := t.TempDir()
	all, train, test := filepath.Join(dir, "all.npz"), filepath.Join(dir, "train.npz"), filepath.Join(dir, "test.npz")
	mustRun(t, "generate", "--potential", "wavy_plateau", "--interaction", "flowers", "--particles", "160", "--steps", "3", "--quiet", "--out", all)
	mustRun(t, "split", "--data", all, "--train", train, "--test", test, "--quiet")
	var w1 [2]float64
	for i, device := range []string{"cpu", "cuda"} {
		model := filepath.Join(dir, device+".safetensors")
		status, _, stderr := child(t, env, "train", "--data", train, "--model", "potential-interaction", "--device", device,
			"--interaction-samples", "4", "--epochs", "60", "--batch-size", "80", "--lr", "3e-3", "--checkpoint-every", "0", "--out", model)
		if status != 0 {
			t.Fatalf("train --device %s: %s", device, stderr)
		}
		if device == "cuda" && !strings.Contains(stderr, "device cuda: jkonet-gpu CUDA emulator") {
			t.Fatalf("train --device cuda did not name its device: %q", stderr)
		}
		f, err := modelfile.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		var rec modelfile.TrainingRecord
		if err := json.Unmarshal(f.Training, &rec); err != nil {
			t.Fatal(err)
		}
		wantPrecision := map[string]string{"cpu": "float64", "cuda": "float32"}[device]
		if rec.Device != device || rec.Precision != wantPrecision || rec.InteractionSamples != 4 {
			t.Fatalf("training record %+v", rec)
		}
		var ev struct {
			Mean      float64 `json:"mean"`
			Baselines struct {
				NoMotion struct {
					Mean float64 `json:"mean"`
				} `json:"no_motion"`
			} `json:"baselines"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, "eval", "--model", model, "--data", test, "--json")), &ev); err != nil {
			t.Fatal(err)
		}
		if !(ev.Mean < 0.8*ev.Baselines.NoMotion.Mean) {
			t.Fatalf("--device %s: W1 %v against no motion %v: nothing was learned", device, ev.Mean, ev.Baselines.NoMotion.Mean)
		}
		w1[i] = ev.Mean
	}
	if r := math.Abs(w1[1]-w1[0]) / w1[0]; r > 0.05 {
		t.Fatalf("one-step W1: cpu %v, cuda (emulated) %v: %.1f%% apart", w1[0], w1[1], 100*r)
	}
}

// TestBenchGPUOnEmulator: bench --what gpu runs both halves on the
// emulator (make test's smoke test of what gpu-check runs on a GPU): the
// time to first step, in parts that add up to it, with the emulator's
// image; the epoch table; a step of each variant in both precisions with
// the model's FLOPs (a step of the potential: 100 rows of mlp_forward and
// mlp_backward), and no roofline, the emulator having no peaks; epochs by
// either launch path, with the emulator's counts.
func TestBenchGPUOnEmulator(t *testing.T) {
	env := emulatorEnv(t)
	path := filepath.Join(t.TempDir(), "gpu.json")
	status, stdout, stderr := child(t, env, "bench", "--what", "gpu", "--sizes", "100", "--dims", "2", "--targets", "10", "--seconds", "0", "--repeats", "1", "--json", path)
	lines := strings.Split(stdout, "\n")
	if status != 0 || !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "P100 d2 U exact over 10") && strings.Contains(l, "gpu/cpu")
	}) || !strings.Contains(stdout, "time to first step (P8000 d2 V only, float32): ") || !strings.Contains(stdout, "kernels loaded as PTX (emulator)") ||
		!strings.Contains(stdout, "jkonet-star float64 d2 batch 100 U exact over 10") || !strings.Contains(stdout, "(peaks unknown: no roofline)") {
		t.Fatalf("bench --what gpu on the emulator: status %d\n%s%s", status, stdout, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.GPUReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	sum := 0.0
	for _, p := range rep.FirstStep.Parts {
		names = append(names, p.Name)
		sum += p.Seconds
	}
	want := []string{"start to the driver", "driver init", "context", "module load", "kernel setup", "until the backend", "upload", "first step"}
	if !slices.Equal(names, want) || math.Abs(sum-rep.FirstStep.Total) > 1e-6 || rep.FirstStep.Image != "PTX (emulator)" {
		t.Errorf("first step %+v: parts %v add up to %v", rep.FirstStep, names, sum)
	}
	if len(rep.Roofline) != 6 {
		t.Fatalf("%d roofline rows, want 3 variants × 2 precisions", len(rep.Roofline))
	}
	// Both launch paths, counted by the emulator an epoch (one step): by
	// default the epoch is one graph launch (issue 17's budget: at most 2
	// launches and 1 synchronisation), with JKONET_CUDA_GRAPH=0 a launch a
	// kernel and no graph.
	if len(rep.Graph) != 2 {
		t.Fatalf("%d launch-path rows, want potential and jkonet-star", len(rep.Graph))
	}
	for _, g := range rep.Graph {
		if len(g.Paths) != 2 {
			t.Fatalf("launch paths %+v", g)
		}
		for _, p := range g.Paths {
			graph := p.GraphLaunches >= 1 && p.Launches+p.GraphLaunches <= 2
			perKernel := p.GraphLaunches == 0 && p.Launches > 2
			if !p.Counted || p.Syncs != 1 || (p.Env == "" && !graph) || (p.Env == "0" && !perKernel) {
				t.Errorf("%s, %s=%q: %+v", g.Case.Name(), bench.GraphEnv, p.Env, p)
			}
		}
	}
	potential := 100 * (cuda.MLPForwardFLOPs(2, 2) + cuda.MLPBackwardFLOPs(2, 2))
	for _, r := range rep.Roofline {
		if (r.Case.Kind == "potential" && r.FLOPs != potential) || r.FLOPs < potential || r.Peak != 0 || r.RooflineSeconds != 0 || !(r.StepSeconds > 0) {
			t.Errorf("roofline row %#v", r)
		}
	}
}
