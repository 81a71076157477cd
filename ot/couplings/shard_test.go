package couplings

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// shuffledSet is randomSet with its rows in random order (times
// interleaved) and trajectory ids, over uneven times, so that τ_k ≠ 1.
func shuffledSet(seed uint64, counts []int) *snapshot.Set {
	times := []float64{0, 1, 3, 3.5, 6}[:len(counts)]
	s := randomSet(seed, 2, times, counts)
	rng := rand.New(rand.NewPCG(seed, 1))
	perm := rng.Perm(s.Len())
	out := &snapshot.Set{D: s.D}
	for _, i := range perm {
		out.X = append(out.X, s.Row(i)...)
		out.T = append(out.T, s.T[i])
		out.ID = append(out.ID, int64(i%counts[0]))
	}
	return out
}

// writeShards computes and saves every shard of n, returning the paths.
func writeShards(t *testing.T, dir string, set *snapshot.Set, opts Options, n int) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := range n {
		c, _, err := ComputeShard(set, opts, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, Shard{i, n}.String()[:1]+".npz")
		if err := c.SaveShard(path, Shard{i, n}); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

func mergeFiles(paths ...string) (*Couplings, error) {
	var parts []*Part
	for _, p := range paths {
		part, err := LoadShard(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	return Merge(parts)
}

// TestShardsMergeToUnsharded: 3 shards of 4 transitions, merged, give the
// unsharded couplings file byte for byte, for exact OT whole and in blocks
// (index and random order), Sinkhorn and trajectory ids; and with the shards
// given in any order.
func TestShardsMergeToUnsharded(t *testing.T) {
	set := shuffledSet(7, []int{30, 24, 30, 27, 30})
	blocked := DefaultOptions()
	blocked.Block = 10
	random := blocked
	random.BlockOrder = "random"
	sinkhorn := DefaultOptions()
	sinkhorn.Method = "sinkhorn"
	ids := DefaultOptions()
	ids.Method = "ids"
	for name, opts := range map[string]Options{"exact": DefaultOptions(), "blocks": blocked, "random blocks": random, "sinkhorn": sinkhorn, "ids": ids} {
		t.Run(name, func(t *testing.T) {
			opts.Components = 3
			dir := t.TempDir()
			whole, _, err := Compute(set, opts)
			if err != nil {
				t.Fatal(err)
			}
			wholePath := filepath.Join(dir, "whole.npz")
			if err := whole.Save(wholePath); err != nil {
				t.Fatal(err)
			}
			paths := writeShards(t, dir, set, opts, 3)
			merged, err := mergeFiles(paths[2], paths[0], paths[1])
			if err != nil {
				t.Fatal(err)
			}
			mergedPath := filepath.Join(dir, "merged.npz")
			if err := merged.Save(mergedPath); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(wholePath)
			b, _ := os.ReadFile(mergedPath)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Fatalf("merged file (%d bytes) differs from the unsharded one (%d bytes)", len(b), len(a))
			}
		})
	}
}

// TestMergeRefuses: one line naming the files for each way the shards can
// be wrong; a shard is refused as couplings.
func TestMergeRefuses(t *testing.T) {
	set := shuffledSet(3, []int{12, 12, 12, 12, 12})
	opts := DefaultOptions()
	opts.Components = 2
	dir := t.TempDir()
	p := writeShards(t, dir, set, opts, 3)
	other := opts
	other.Components = 3
	otherOpts := writeShards(t, filepath.Join(dir, "other-options"), set, other, 3)
	otherData := writeShards(t, filepath.Join(dir, "other-data"), shuffledSet(4, []int{12, 12, 12, 12, 12}), opts, 3)
	two := writeShards(t, filepath.Join(dir, "two"), set, opts, 2)
	// Shard 0's pairs under shard 1's record.
	arch, err := npz.ReadFile(p[0])
	if err != nil {
		t.Fatal(err)
	}
	arch[len(arch)-1].Array = npz.FromBytes([]byte(`{"index":1,"count":3}`))
	relabelled := filepath.Join(dir, "relabelled.npz")
	if err := npz.WriteFile(relabelled, arch); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{p[0], p[2]}, "shard 1/3 missing (have 2 of 3)"},
		{[]string{p[0]}, "shard 1/3, 2/3 missing (have 1 of 3)"},
		{[]string{p[0], p[1], p[1], p[2]}, p[1] + " and " + p[1] + " are both shard 1/3"},
		{[]string{p[0], otherOpts[1], p[2]}, otherOpts[1] + ": computed with other options: components 3 (now 2) than " + p[0]},
		{[]string{p[0], p[1], otherData[2]}, otherData[2] + ": computed from other data"},
		{[]string{p[0], p[1], two[1]}, two[1] + " is shard 1/2 but " + p[0] + " is shard 0/3: shards of different runs"},
		{[]string{relabelled, p[0], p[2]}, relabelled + ": shard 1/3 should hold transitions [1] in order, holds [0 3]"},
	} {
		_, err := mergeFiles(c.files...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("merge %v:\n got %v\nwant %s…", c.files, err, c.want)
		}
	}
	if _, err := Load(p[1]); err == nil || err.Error() != p[1]+`: field "shard": shard 1/3 of a sharded preprocess`+", not whole couplings: merge the shards with preprocess --merge" {
		t.Errorf("Load of a shard: %v", err)
	}
	whole := filepath.Join(dir, "whole.npz")
	c, _, err := Compute(set, opts)
	if err != nil || c.Save(whole) != nil {
		t.Fatal(err)
	}
	if _, err := LoadShard(whole); err == nil || err.Error() != whole+`: field "shard": missing: not a shard (preprocess --shard writes them)` {
		t.Errorf("LoadShard of whole couplings: %v", err)
	}
	if _, _, err := ComputeShard(set, opts, Shard{4, 5}); err == nil || err.Error() != "--shard 4/5: the data have 4 transitions, so at most 4 shards" {
		t.Errorf("5 shards of 4 transitions: %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for text, want := range map[string]Shard{"0/1": {0, 1}, "2/3": {2, 3}, " 1 / 4 ": {1, 4}} {
		if got, err := ParseShard(text); err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	for _, bad := range []string{"", "1", "3/3", "-1/3", "1/0", "a/b", "1/2/3", "1.5/3"} {
		if _, err := ParseShard(bad); err == nil || !strings.Contains(err.Error(), "expected i/n with 0 ≤ i < n") {
			t.Errorf("ParseShard(%q): %v", bad, err)
		}
	}
}
