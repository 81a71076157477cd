package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestPreprocessShardsAndMerge: three shards, their indices taken from a
// Slurm array whose ids start at 1, merged, give the unsharded couplings file
// byte for byte; an Indexed Job's shard is the same file as --shard i/n; a
// missing, duplicated or mismatched shard, or other data, is refused with one
// line and no output.
func TestPreprocessShardsAndMerge(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "generate", "--potential", "wavy_plateau", "--dim", "2", "--particles", "60", "--steps", "4", "--seed", "3", "--out", in("all.npz"))
	mustRun(t, "generate", "--potential", "wavy_plateau", "--dim", "2", "--particles", "60", "--steps", "4", "--seed", "4", "--out", in("other.npz"))
	flags := []string{"--components", "3", "--quiet"}
	mustRun(t, append([]string{"preprocess", "--data", in("all.npz"), "--out", in("whole.npz")}, flags...)...)

	for id := 1; id <= 3; id++ {
		t.Setenv("SLURM_ARRAY_TASK_ID", fmt.Sprint(id))
		t.Setenv("SLURM_ARRAY_TASK_MIN", "1")
		t.Setenv("SLURM_ARRAY_TASK_COUNT", "3")
		mustRun(t, append([]string{"preprocess", "--data", in("all.npz"), "--shard", "auto", "--out", in(fmt.Sprintf("part-%d.npz", id-1))}, flags...)...)
	}
	for _, v := range []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"} {
		os.Unsetenv(v) // t.Setenv restores them after the test
	}
	out := mustRun(t, "preprocess", "--merge", "--data", in("all.npz"), "--out", in("merged.npz"), in("part-2.npz"), in("part-0.npz"), in("part-1.npz"))
	if want := fmt.Sprintf("wrote %s: 3 shards, 4 transitions, 240 pairs\n", in("merged.npz")); out != want {
		t.Errorf("merge printed %q, want %q", out, want)
	}
	sameFile(t, in("whole.npz"), in("merged.npz"))

	t.Setenv("JOB_COMPLETION_INDEX", "1")
	t.Setenv("JKONET_WORLD_SIZE", "3")
	mustRun(t, append([]string{"preprocess", "--data", in("all.npz"), "--shard", "auto", "--out", in("indexed.npz")}, flags...)...)
	sameFile(t, in("part-1.npz"), in("indexed.npz"))
	os.Unsetenv("JOB_COMPLETION_INDEX")
	os.Unsetenv("JKONET_WORLD_SIZE")

	mustRun(t, "preprocess", "--data", in("all.npz"), "--shard", "1/3", "--components", "4", "--quiet", "--out", in("other-options.npz"))
	mustRun(t, "preprocess", "--data", in("other.npz"), "--shard", "2/3", "--components", "3", "--quiet", "--out", in("other-data.npz"))
	keep := []string{"all.npz", "other.npz", "whole.npz", "part-0.npz", "part-1.npz", "part-2.npz", "merged.npz", "indexed.npz", "other-options.npz", "other-data.npz"}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"shard 1/3 missing (have 2 of 3)", []string{in("part-0.npz"), in("part-2.npz")}},
		{"are both shard 1/3", []string{in("part-0.npz"), in("part-1.npz"), in("indexed.npz"), in("part-2.npz")}},
		{"other-options.npz: computed with other options: components 4 (now 3)", []string{in("part-0.npz"), in("other-options.npz"), in("part-2.npz")}},
		{"other-data.npz: computed from other data", []string{in("part-0.npz"), in("part-1.npz"), in("other-data.npz")}},
		{"whole.npz: field \"shard\": missing: not a shard", []string{in("part-0.npz"), in("whole.npz")}},
	} {
		mustFail(t, dir, keep, c.want, append([]string{"preprocess", "--merge", "--out", in("bad.npz")}, c.args...)...)
	}
	mustFail(t, dir, keep, in("other.npz")+": the shards were computed from other data",
		"preprocess", "--merge", "--data", in("other.npz"), "--out", in("bad.npz"), in("part-0.npz"), in("part-1.npz"), in("part-2.npz"))
	mustFail(t, dir, keep, `"--quiet" after the shard files: only --out may follow them`,
		"preprocess", "--merge", "--out", in("bad.npz"), in("part-0.npz"), "--quiet")
	mustFail(t, dir, keep, "--merge: --out given twice", "preprocess", "--merge", "--out", in("bad.npz"), in("part-0.npz"), "--out", in("bad2.npz"))
	mustFail(t, dir, keep, "--merge: no --out file", "preprocess", "--merge", in("part-0.npz"), in("part-1.npz"))
	mustFail(t, dir, keep, "preprocess: --out is required", "preprocess", "--data", in("all.npz"))
	// The order, --out after the shards, merges the same file.
	mustRun(t, "preprocess", "--merge", "--quiet", in("part-2.npz"), in("part-0.npz"), in("part-1.npz"), "--out", in("merged-after.npz"))
	sameFile(t, in("whole.npz"), in("merged-after.npz"))
	os.Remove(in("merged-after.npz"))
	mustFail(t, dir, keep, `part-1.npz: field "shard": shard 1/3 of a sharded preprocess, not whole couplings`,
		"train", "--data", in("all.npz"), "--couplings", in("part-1.npz"), "--epochs", "1", "--out", in("bad.safetensors"))
	mustFail(t, dir, keep, "--shard auto: no job array in the environment",
		"preprocess", "--data", in("all.npz"), "--shard", "auto", "--out", in("bad.npz"))
	t.Setenv("SLURM_ARRAY_TASK_ID", "4")
	t.Setenv("SLURM_ARRAY_TASK_MIN", "1")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "3")
	mustFail(t, dir, keep, "--shard auto: SLURM_ARRAY_TASK_ID=4: expected one of 3 ids from SLURM_ARRAY_TASK_MIN=1",
		"preprocess", "--data", in("all.npz"), "--shard", "auto", "--out", in("bad.npz"))
	mustFail(t, dir, keep, "--shard 0/5: the data have 4 transitions, so at most 4 shards",
		"preprocess", "--data", in("all.npz"), "--shard", "0/5", "--out", in("bad.npz"))
	mustFail(t, dir, keep, "preprocess: --data is required (except with --merge)", "preprocess", "--out", in("bad.npz"))
	mustFail(t, dir, keep, `preprocess: unexpected argument "`+in("part-0.npz")+`" (files to merge go with --merge, after the flags)`,
		"preprocess", "--data", in("all.npz"), "--out", in("bad.npz"), in("part-0.npz"))
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, errA := os.ReadFile(a)
	y, errB := os.ReadFile(b)
	if errA != nil || errB != nil || len(x) == 0 || !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ (%v, %v)", a, len(x), b, len(y), errA, errB)
	}
}
