package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
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

// failRankEnv, in the environment of the CLI this test binary runs, fails
// that rank after its first epoch (engine.TestFault), as a failed write
// would.
const failRankEnv = "JKONET_TEST_FAIL_RANK"

// hangRankEnv, likewise, makes that rank hang for a minute after its first
// epoch, as a rank that died without its launcher noticing (a lost node).
const hangRankEnv = "JKONET_TEST_HANG_RANK"

func init() {
	if v := os.Getenv(failRankEnv); v != "" {
		fail, _ := strconv.Atoi(v)
		engine.TestFault = func(rank, epoch int) error {
			if rank == fail && epoch == 1 {
				return fmt.Errorf("injected fault on rank %d after epoch 1", rank)
			}
			return nil
		}
	}
	if v := os.Getenv(hangRankEnv); v != "" {
		hang, _ := strconv.Atoi(v)
		engine.TestFault = func(rank, epoch int) error {
			if rank == hang && epoch == 1 {
				time.Sleep(time.Minute) // bounded, so that no test leaves a process behind
				return fmt.Errorf("rank %d hung for a minute", rank)
			}
			return nil
		}
	}
}

// mpmd runs one rank per argument list under mpirun's MPMD form (`-n 1 …
// : -n 1 …`), each through sh so that its exit status is printed, and
// returns the output and every rank's status in rank order.
func mpmd(t *testing.T, mpirun string, ranks ...[]string) (string, []string) {
	t.Helper()
	args := []string{"--allow-run-as-root", "--oversubscribe"}
	for i, r := range ranks {
		if i > 0 {
			args = append(args, ":")
		}
		args = append(args, "-n", "1", "-x", "JKONET_GPU_AS_CLI=1", "-x", failRankEnv, "-x", hangRankEnv, "sh", "-c", `"$0" "$@"; echo "rank $OMPI_COMM_WORLD_RANK exit status $?"`, os.Args[0])
		args = append(args, r...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, args...)
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpirun still ran after a minute:\n%s", out)
	}
	var status []string
	for r := range ranks {
		s := "none"
		if _, after, ok := strings.Cut(string(out), fmt.Sprintf("rank %d exit status ", r)); ok {
			s, _, _ = strings.Cut(after, "\n")
		}
		status = append(status, s)
	}
	return string(out), status
}

// TestMPMDRanksMustAgree: ranks launched with another flag, another model
// or other data stop before training: every rank exits non-zero with the
// same one line naming the field and both values, without a signal, a
// memory error or a stack trace, and no model is written.
func TestMPMDRanksMustAgree(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	other := filepath.Join(dir, "other.npz")
	mustRun(t, "generate", "--potential", "styblinski_tang", "--particles", "80", "--steps", "3", "--quiet", "--out", other)
	out := filepath.Join(dir, "m.safetensors")
	train := func(extra ...string) []string {
		return append([]string{"train", "--data", data, "--model", "potential", "--epochs", "2", "--batch-size", "40", "--device", "cpu",
			"--collective", "mpi", "--interaction-samples", "4", "--quiet", "--out", out}, extra...)
	}
	for _, c := range []struct {
		name  string
		rank1 []string
		want  string
	}{
		{"another model and --lr", train("--model", "jkonet-star", "--lr", "0.1"), "the ranks disagree on --model: rank 0 has potential, rank 1 has jkonet-star"},
		{"another --lr", train("--lr", "0.1"), "the ranks disagree on --lr: rank 0 has 0.001, rank 1 has 0.1"},
		{"other data", append(train(), "--data", other), "the ranks disagree on the data's sha256: rank 0 has "},
	} {
		got, status := mpmd(t, mpirun, train(), c.rank1)
		if n := strings.Count(got, c.want); n != 2 {
			t.Errorf("%s: %q appears %d times, want once per rank:\n%s", c.name, c.want, n, got)
		}
		for r, s := range status {
			if s != "1" {
				t.Errorf("%s: rank %d exit status %s, want 1:\n%s", c.name, r, s, got)
			}
		}
		for _, bad := range []string{"goroutine", "SIG", "signal", "double free", "errno", "panic"} {
			if strings.Contains(got, bad) {
				t.Errorf("%s: the output holds %q:\n%s", c.name, bad, got)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: a model was written", c.name)
		}
	}
}

// TestMPIOneRankFails: rank 1 of 3 fails after its first epoch of 3; every
// rank exits non-zero within the bound (mpmd's minute; seconds here) with
// one line: rank 1's own, the others' saying that a rank failed.
func TestMPIOneRankFails(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	t.Setenv(failRankEnv, "1")
	train := []string{"train", "--data", data, "--model", "potential", "--epochs", "3", "--batch-size", "40", "--device", "cpu",
		"--collective", "mpi", "--interaction-samples", "4", "--quiet", "--out", filepath.Join(dir, "m.safetensors")}
	start := time.Now()
	got, status := mpmd(t, mpirun, train, train, train)
	t.Logf("every rank stopped %.1f s after the start", time.Since(start).Seconds())
	if n := strings.Count(got, "injected fault on rank 1 after epoch 1"); n != 1 {
		t.Errorf("rank 1's line appears %d times:\n%s", n, got)
	}
	if n := strings.Count(got, "stopped because 1 other rank(s) failed (their own line says why)"); n != 2 {
		t.Errorf("the others' line appears %d times, want 2:\n%s", n, got)
	}
	for r, s := range status {
		if s != "1" {
			t.Errorf("rank %d exit status %s, want 1:\n%s", r, s, got)
		}
	}
	for _, bad := range []string{"goroutine", "SIG", "panic"} {
		if strings.Contains(got, bad) {
			t.Errorf("the output holds %q:\n%s", bad, got)
		}
	}
}

// TestMPIOneRankHangs: rank 1 of 3 hangs after its first epoch; with
// --collective-timeout 2s, ranks 0 and 2 each exit with status 1 and one
// line naming the timeout, seconds after the hang instead of never (Open
// MPI cannot be aborted from another thread: the watchdog ends the
// process, and mpirun then ends the hung rank).
func TestMPIOneRankHangs(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	t.Setenv(hangRankEnv, "1")
	train := []string{"train", "--data", data, "--model", "potential", "--epochs", "3", "--batch-size", "40", "--device", "cpu",
		"--collective", "mpi", "--collective-timeout", "2s", "--interaction-samples", "4", "--quiet", "--out", filepath.Join(dir, "m.safetensors")}
	start := time.Now()
	got, status := mpmd(t, mpirun, train, train, train)
	took := time.Since(start)
	t.Logf("mpirun ended %.1f s after the start", took.Seconds())
	if took > 30*time.Second {
		t.Errorf("mpirun took %v with a 2 s timeout", took)
	}
	for _, r := range []int{0, 2} {
		line := fmt.Sprintf("jkonet-gpu: rank %d: no mpi sum completed within --collective-timeout 2s: another rank died or hung", r)
		if n := strings.Count(got, line); n != 1 {
			t.Errorf("rank %d's line appears %d times:\n%s", r, n, got)
		}
		if status[r] != "1" {
			t.Errorf("rank %d exit status %s, want 1:\n%s", r, status[r], got)
		}
	}
	for _, bad := range []string{"goroutine", "panic", "hung for a minute"} {
		if strings.Contains(got, bad) {
			t.Errorf("the output holds %q:\n%s", bad, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
		t.Error("a model was written")
	}
}
