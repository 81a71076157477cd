package main

import (
	"bytes"
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
