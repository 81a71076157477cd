package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// mpirunCLI runs the CLI (this test binary, see TestMain) on n ranks under
// mpirun and returns its output.
func mpirunCLI(t *testing.T, mpirun string, n int, args ...string) string {
	t.Helper()
	cmd := exec.Command(mpirun, append([]string{"--allow-run-as-root", "--oversubscribe", "-n", strconv.Itoa(n),
		"-x", "JKONET_GPU_AS_CLI=1", os.Args[0]}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun -n %d jkonet-gpu %s: %v\n%s", n, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// loadTrained reads a model file's parameters and its collective and ranks.
func loadTrained(t *testing.T, path string) ([]float64, modelfile.TrainingRecord) {
	t.Helper()
	f, err := modelfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec modelfile.TrainingRecord
	if err := json.Unmarshal(f.Training, &rec); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f.Params, rec
}

// closeTo fails unless every parameter of got is within 1e-7 relative of
// want (relative to max(|want|, 1e-3)), and returns the worst.
func closeTo(t *testing.T, what string, got, want []float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d parameters, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		worst = max(worst, math.Abs(got[i]-want[i])/max(math.Abs(want[i]), 1e-3))
	}
	if worst > 1e-7 {
		t.Errorf("%s: parameters differ by %.3g relative, want ≤ 1e-7", what, worst)
	}
	return worst
}

// TestMPITrainMatchesOneProcess: `mpirun -n 4 jkonet-gpu train` trains the
// model one process trains with the same global batch (every parameter
// within 1e-7 relative), rank 0 alone reports and writes, the model records
// the collective and the ranks, and 2 ranks resume from the 4 ranks'
// checkpoint as one process resumes from its own.
func TestMPITrainMatchesOneProcess(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	dir := t.TempDir()
	data, _ := smallRun(t, dir, "--interaction", "sphere", "--beta", "0.1")
	cp := filepath.Join(dir, "couplings.npz")
	common := []string{"train", "--data", data, "--couplings", cp, "--model", "jkonet-star", "--batch-size", "25",
		"--interaction-samples", "4", "--lr", "0.01", "--seed", "3"}
	args := func(out string, extra ...string) []string {
		return append(append(append([]string{}, common...), "--out", filepath.Join(dir, out)), extra...)
	}
	mustRun(t, args("one.safetensors", "--epochs", "3", "--quiet")...) // also writes the couplings the ranks read
	out := mpirunCLI(t, mpirun, 4, args("four.safetensors", "--epochs", "3", "--collective", "mpi")...)
	if n := strings.Count(out, "data parallel: 4 ranks, gradients summed by mpi"); n != 1 {
		t.Errorf("the collective line appears %d times, want once (rank 0):\n%s", n, out)
	}
	if n := strings.Count(out, "wrote "); n != 1 {
		t.Errorf("%d ranks reported writing the model, want rank 0 alone:\n%s", n, out)
	}
	one, oneRec := loadTrained(t, filepath.Join(dir, "one.safetensors"))
	four, fourRec := loadTrained(t, filepath.Join(dir, "four.safetensors"))
	worst := closeTo(t, "4 ranks against 1 process", four, one)
	if oneRec.Collective != "none" || oneRec.Ranks != 1 || fourRec.Collective != "mpi" || fourRec.Ranks != 4 {
		t.Errorf("records say %s/%d and %s/%d, want none/1 and mpi/4", oneRec.Collective, oneRec.Ranks, fourRec.Collective, fourRec.Ranks)
	}
	t.Logf("4 ranks: worst relative difference %.2g", worst)

	mustRun(t, args("one5.safetensors", "--epochs", "5", "--quiet", "--resume", filepath.Join(dir, "one.safetensors.ckpt"))...)
	mpirunCLI(t, mpirun, 2, args("two5.safetensors", "--epochs", "5", "--quiet", "--resume", filepath.Join(dir, "four.safetensors.ckpt"))...)
	one5, _ := loadTrained(t, filepath.Join(dir, "one5.safetensors"))
	two5, _ := loadTrained(t, filepath.Join(dir, "two5.safetensors"))
	closeTo(t, "2 ranks resumed from the 4 ranks' checkpoint against 1 process resumed", two5, one5)
}

// TestCollectiveRefusals: several ranks with nothing to sum them, NCCL on
// the CPU and an unknown collective are each refused in one line, leaving no
// file behind.
func TestCollectiveRefusals(t *testing.T) {
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	keep := []string{"all.npz", "train.npz", "test.npz"}
	train := func(collective string) []string {
		return []string{"train", "--data", data, "--model", "potential", "--epochs", "1", "--device", "cpu",
			"--collective", collective, "--quiet", "--out", filepath.Join(dir, "m.safetensors")}
	}
	mustFail(t, dir, keep, `--collective: expected auto, none, mpi or nccl, got "gloo"`, train("gloo")...)
	mustFail(t, dir, keep, "--collective nccl: NCCL sums GPU buffers; train with --device cuda", train("nccl")...)
	// Two ranks by torchrun's variables, outside mpirun.
	t.Setenv("RANK", "0")
	t.Setenv("WORLD_SIZE", "2")
	t.Setenv("MASTER_ADDR", "127.0.0.1")
	mustFail(t, dir, keep, "--collective auto: 2 ranks but nothing can sum across the ranks (not launched by mpirun)", train("auto")...)
	mustFail(t, dir, keep, "--collective none: 2 ranks were launched and nothing can sum across the ranks", train("none")...)
}
