package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputsNeverReplaceInputs (issue 19): every command refuses, before
// any work and in one line naming both flags, an output path that names
// one of its inputs (the same path, a symbolic link, a hard link, "./"),
// another of its outputs, or something that is not a regular file or a
// new path; the inputs and the directory are left exactly as they were.
func TestOutputsNeverReplaceInputs(t *testing.T) {
	dir := t.TempDir()
	data, other := smallRun(t, dir)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--model", "linear", "--quiet", "--out", model)
	prepared := filepath.Join(dir, "p.npz")
	mustRun(t, "prepare", "--data", data, "--standardize", "--quiet", "--out", prepared)
	shard := filepath.Join(dir, "s0.npz")
	mustRun(t, "preprocess", "--data", data, "--shard", "0/1", "--quiet", "--out", shard)
	link, hard := filepath.Join(dir, "link.npz"), filepath.Join(dir, "hard.npz")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(data, hard); err != nil {
		t.Fatal(err)
	}
	fifo, ro := filepath.Join(dir, "fifo"), filepath.Join(dir, "ro.npz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ro, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	dotted := filepath.Join(dir, ".", "sub", "..", filepath.Base(data))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	var keep []string
	for name := range before {
		keep = append(keep, name)
	}
	fresh := filepath.Join(dir, "new.npz")
	train := []string{"train", "--data", data, "--model", "linear", "--quiet"}
	cases := []struct {
		want string
		args []string
	}{
		{"--out and --data name the same file", append(train, "--out", data)},
		{"--out and --data name the same file", append(train, "--out", link)},
		{"--checkpoint and --data name the same file", append(train, "--out", fresh, "--checkpoint", hard)},
		{"--log-json and --data name the same file", append(train, "--out", fresh, "--log-json", dotted)},
		{"--out and --couplings name the same file", append(train, "--out", shard, "--couplings", shard)},
		{"--out and --resume name the same file", append(train, "--out", model, "--resume", model)},
		{"--out and --checkpoint name the same file", append(train, "--out", fresh, "--checkpoint", fresh)},
		{"--out: empty path", append(train, "--out", "")},
		{"--out and --data name the same file", []string{"predict", "--model", model, "--data", data, "--quiet", "--out", hard}},
		{"--out and --model name the same file", []string{"predict", "--model", model, "--data", data, "--quiet", "--out", model}},
		{"--train and --data name the same file", []string{"split", "--data", data, "--train", link, "--test", fresh}},
		{"--train and --test name the same file", []string{"split", "--data", data, "--train", fresh, "--test", filepath.Join(dir, "sub", "..", "new.npz")}},
		{"--out and --data name the same file", []string{"plot", "--model", model, "--data", data, "--out", data}},
		{"--out and --model name the same file", []string{"plot", "--model", model, "--out", model}},
		{"--out and --data name the same file", []string{"preprocess", "--data", data, "--quiet", "--out", dotted}},
		{"--out and shard file name the same file", []string{"preprocess", "--merge", "--quiet", "--out", shard, shard}},
		{"--out and --data name the same file", []string{"prepare", "--data", data, "--quiet", "--out", data}},
		{"--out and --transform-from name the same file", []string{"prepare", "--data", other, "--transform-from", prepared, "--quiet", "--out", prepared}},
		{"is a FIFO, not a regular file", []string{"generate", "--potential", "styblinski_tang", "--quiet", "--out", fifo}},
		{"/dev/null: is a character device", []string{"generate", "--potential", "styblinski_tang", "--quiet", "--out", "/dev/null"}},
		{"is read-only", []string{"generate", "--potential", "styblinski_tang", "--quiet", "--out", ro}},
		{"is a directory", []string{"generate", "--potential", "styblinski_tang", "--quiet", "--out", filepath.Join(dir, "sub")}},
		{"--json: " + fifo + ": is a FIFO", []string{"bench", "--what", "gpu", "--json", fifo}},
	}
	for _, c := range cases {
		mustFail(t, dir, keep, c.want, c.args...)
		if after := dirDigest(t, dir); !sameDigest(before, after) {
			t.Fatalf("%v changed the files in %s", c.args, dir)
		}
	}
	// Resuming continues the checkpoint named by --resume: allowed.
	ckpt := filepath.Join(dir, "run.ckpt")
	args := append(train[:0:0], "train", "--data", data, "--model", "potential", "--epochs", "2", "--quiet", "--out", fresh, "--checkpoint", ckpt)
	mustRun(t, args...)
	mustRun(t, append(args[:len(args):len(args)], "--epochs", "3", "--resume", ckpt)...)
}

// dirDigest hashes every regular file in dir by name (FIFOs and
// directories by their mode).
func dirDigest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Mode().IsRegular() {
			out[e.Name()] = sha256.Sum256([]byte(st.Mode().String()))
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func sameDigest(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
