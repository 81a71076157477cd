package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// TestMain lets the test binary act as the CLI in a child process, so that a
// test can interrupt a real training run.
func TestMain(m *testing.M) {
	if os.Getenv("JKONET_GPU_AS_CLI") == "1" {
		os.Exit(run(append([]string{"jkonet-gpu"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestInterruptWritesCheckpoint: SIGINT during training, or SIGTERM (what a
// scheduler sends before it kills a job), writes a checkpoint and exits
// non-zero with one line; --resume continues from it.
func TestInterruptWritesCheckpoint(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { interruptAndResume(t, sig) })
	}
}

func interruptAndResume(t *testing.T, sig syscall.Signal) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	out, logPath := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "log.jsonl")
	cmd := exec.Command(os.Args[0], "train", "--data", train, "--model", "potential", "--epochs", "1000000",
		"--checkpoint-every", "0", "--quiet", "--out", out, "--log-json", logPath)
	cmd.Env = append(os.Environ(), "JKONET_GPU_AS_CLI=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once training is under way: an epoch has been logged (into
	// the temporary file that becomes --log-json at the end).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tmps, _ := filepath.Glob(filepath.Join(dir, ".log.jsonl.tmp-*"))
		if len(tmps) == 1 {
			if b, _ := os.ReadFile(tmps[0]); bytes.Contains(b, []byte("\n")) {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("training logged no epoch within 60 s")
		}
	}
	cmd.Process.Signal(sig)
	if err := cmd.Wait(); err == nil {
		t.Fatal("interrupted training exited 0")
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "interrupted after") || !strings.Contains(msg, "--resume "+out+".ckpt") {
		t.Fatalf("stderr: %q", msg)
	}
	ckpt, err := modelfile.Load(out + ".ckpt")
	if err != nil || ckpt.Steps == 0 || ckpt.M == nil {
		t.Fatalf("checkpoint: %v (%+v)", err, ckpt)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("an interrupted run wrote the model file")
	}
	if b, err := os.ReadFile(logPath); err != nil || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("--log-json after the interrupt: %v, %q", err, b)
	}
	epochs := ckpt.Steps + 2 // 120 training pairs, batches of 250: one step per epoch
	mustRun(t, "train", "--data", train, "--model", "potential", "--epochs", strconv.FormatUint(epochs, 10), "--checkpoint-every", "0", "--quiet", "--out", out, "--resume", out+".ckpt")
	if _, err := modelfile.Load(out); err != nil {
		t.Fatal(err)
	}
}

// TestKilledRunResumesBitForBit: a run killed with SIGKILL at a random
// moment (after its first checkpoint) resumes from its last checkpoint and
// ends with the same tensors as a run that was never interrupted. The
// checkpoints are written atomically, so a kill during a write leaves the
// previous one.
func TestKilledRunResumesBitForBit(t *testing.T) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	args := func(out string) []string {
		return []string{"train", "--data", train, "--model", "potential", "--device", "cpu", "--epochs", "300",
			"--checkpoint-every", "3", "--quiet", "--out", out}
	}
	straight := filepath.Join(dir, "straight.safetensors")
	mustRun(t, args(straight)...)

	killed := filepath.Join(dir, "killed.safetensors")
	seed := uint64(time.Now().UnixNano())
	delay := time.Duration(rand.New(rand.NewPCG(seed, 0)).IntN(150)) * time.Millisecond
	cmd := exec.Command(os.Args[0], args(killed)...)
	cmd.Env = append(os.Environ(), "JKONET_GPU_AS_CLI=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(killed + ".ckpt"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint within 60 s")
		}
	}
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ckpt, err := modelfile.Load(killed + ".ckpt")
	if err != nil {
		t.Fatalf("the checkpoint left by a SIGKILL %v after the first one does not load: %v", delay, err)
	}
	t.Logf("killed %v after the first checkpoint; resuming from step %d", delay, ckpt.Steps)
	mustRun(t, append(args(killed), "--resume", killed+".ckpt")...)
	a, err1 := modelfile.Load(straight)
	b, err2 := modelfile.Load(killed)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !slices.Equal(a.Params, b.Params) {
		t.Fatalf("resumed after a kill at step %d (delay %v): tensors differ from the uninterrupted run's", ckpt.Steps, delay)
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut after ')'.
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); i > 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			out = append(out, child)
		}
	}
	return out
}

// TestMPISigtermCheckpoints: SIGTERM under mpirun, sent to every rank (as
// srun and Slurm's preemption do) or to mpirun itself (which forwards it
// and kills the ranks a second later), stops both ranks after the same
// step: rank 0 writes one checkpoint and its line, rank 1 a line saying so,
// both lines get out (before MPI_Finalize), the run exits non-zero and
// writes no model. The checkpoint of 2 ranks resumes on 1 and on 3 ranks,
// each with one line saying the result is not bit-identical to an
// uninterrupted 2-rank run.
func TestMPISigtermCheckpoints(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found (make mpi installs Open MPI)")
	}
	dir := t.TempDir()
	data, _ := smallRun(t, dir)
	cp := filepath.Join(dir, "couplings.npz")
	common := []string{"train", "--data", data, "--couplings", cp, "--model", "potential", "--device", "cpu", "--checkpoint-every", "0", "--quiet"}
	mustRun(t, append(common, "--epochs", "1", "--out", filepath.Join(dir, "warm.safetensors"))...) // writes the couplings
	for _, to := range []string{"ranks", "mpirun"} {
		t.Run(to, func(t *testing.T) {
			out, logPath := filepath.Join(dir, to+".safetensors"), filepath.Join(dir, to+".jsonl")
			cmd := exec.Command(mpirun, append([]string{"--allow-run-as-root", "--oversubscribe", "-n", "2", "-x", "JKONET_GPU_AS_CLI=1", os.Args[0]},
				append(common, "--epochs", "1000000", "--collective", "mpi", "--out", out, "--log-json", logPath)...)...)
			var output bytes.Buffer
			cmd.Stdout, cmd.Stderr = &output, &output
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				tmps, _ := filepath.Glob(filepath.Join(dir, "."+to+".jsonl.tmp-*"))
				if len(tmps) == 1 {
					if b, _ := os.ReadFile(tmps[0]); bytes.Contains(b, []byte("\n")) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("training logged no epoch within 60 s")
				}
			}
			targets := []int{cmd.Process.Pid}
			if to == "ranks" {
				if targets = childrenOf(t, cmd.Process.Pid); len(targets) != 2 {
					t.Fatalf("mpirun has %d children, want the 2 ranks", len(targets))
				}
			}
			for _, pid := range targets {
				syscall.Kill(pid, syscall.SIGTERM)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("mpirun still runs 30 s after SIGTERM:\n%s", output.String())
			}
			got := output.String()
			if err == nil {
				t.Errorf("interrupted mpirun exited 0:\n%s", got)
			}
			ckpt, lerr := modelfile.Load(out + ".ckpt")
			if lerr != nil {
				t.Fatalf("checkpoint: %v\n%s", lerr, got)
			}
			line0 := fmt.Sprintf("jkonet-gpu: interrupted after %d steps; checkpoint written to %s.ckpt (continue with --resume %s.ckpt)\n", ckpt.Steps, out, out)
			line1 := fmt.Sprintf("jkonet-gpu: rank 1: interrupted after %d steps with every rank; rank 0 wrote the checkpoint %s.ckpt\n", ckpt.Steps, out)
			if strings.Count(got, line0) != 1 || strings.Count(got, line1) != 1 || strings.Count(got, "checkpoint written") != 1 {
				t.Errorf("want once each %q and %q:\n%s", line0, line1, got)
			}
			for _, bad := range []string{"goroutine", "panic"} {
				if strings.Contains(got, bad) {
					t.Errorf("the output holds %q:\n%s", bad, got)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an interrupted run wrote the model")
			}
			t.Logf("SIGTERM to %s: both ranks stopped after step %d", to, ckpt.Steps)
			if to != "ranks" {
				return
			}
			epochs := strconv.FormatUint(ckpt.Steps+2, 10) // one step an epoch
			warn := func(ranks int) string {
				return fmt.Sprintf("warning: %s.ckpt was written by 2 rank(s) and resumes on %d: the gradients are summed in another order, so the result is not bit-identical to an uninterrupted 2-rank run (it agrees to rounding)\n", out, ranks)
			}
			status, _, errOut := jk(t, append(common, "--epochs", epochs, "--resume", out+".ckpt", "--out", filepath.Join(dir, "one.safetensors"))...)
			if status != 0 || errOut != warn(1) {
				t.Errorf("resumed on 1 rank: status %d, stderr %q, want %q", status, errOut, warn(1))
			}
			three := mpirunCLI(t, mpirun, 3, append(common, "--epochs", epochs, "--collective", "mpi", "--resume", out+".ckpt", "--out", filepath.Join(dir, "three.safetensors"))...)
			if strings.Count(three, "warning:") != 1 || !strings.Contains(three, warn(3)) {
				t.Errorf("resumed on 3 ranks:\n%s\nwant once %q", three, warn(3))
			}
			a, _ := loadTrained(t, filepath.Join(dir, "one.safetensors"))
			b, _ := loadTrained(t, filepath.Join(dir, "three.safetensors"))
			closeTo(t, "3 ranks against 1, resumed from 2 ranks' checkpoint", b, a)
		})
	}
}
