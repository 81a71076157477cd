package couplings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

// Shard is part Index of Count of the couplings of a data set: the
// transitions k with k mod Count = Index (preprocess --shard i/n). The unit
// is the whole transition, its OT (blocks included) and its target's
// density fit: blocks of one transition are not split across shards, since
// blocks (random or spatial order) come from one ordering of the whole
// snapshots and their pairs are sorted across blocks. Transitions are independent, so
// the shards merged in transition order are the unsharded couplings, bit for
// bit (Merge).
type Shard struct{ Index, Count int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard reads "i/n" with 0 ≤ i < n.
func ParseShard(text string) (Shard, error) {
	i, n, ok := strings.Cut(text, "/")
	index, err1 := strconv.Atoi(strings.TrimSpace(i))
	count, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || count < 1 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("--shard %q: expected i/n with 0 ≤ i < n, such as 0/4", text)
	}
	return Shard{index, count}, nil
}

// transitions are the shard's transitions among t.
func (s Shard) transitions(t int) []int {
	var ks []int
	for k := s.Index; k < t; k += s.Count {
		ks = append(ks, k)
	}
	return ks
}

// ComputeShard computes the shard's transitions of set as Compute would:
// each transition alone, from its two snapshots, then given its index k and
// the τ_k of all the set's times. The result holds only those transitions'
// pairs, with the set's times and provenance; SaveShard writes it.
func ComputeShard(set *snapshot.Set, opts Options, shard Shard) (*Couplings, *Report, error) {
	snaps := set.Snapshots()
	t := len(snaps) - 1
	if shard.Count > t {
		return nil, nil, fmt.Errorf("--shard %s: the data have %d transitions, so at most %d shards", shard, max(t, 0), max(t, 0))
	}
	times := set.Times()
	tau := TimeSteps(times)
	opts = opts.Resolved(set.D)
	c := &Couplings{D: set.D, Times: times, Provenance: &Provenance{Data: set.Hash(), Options: opts}}
	rep := &Report{}
	for _, k := range shard.transitions(t) {
		if !(tau[k] > 0) || math.IsInf(tau[k], 0) {
			return nil, nil, fmt.Errorf("snapshot times t=%v → t=%v: the time step relative to the mean interval is %v, expected a finite number > 0 (rescale the times)", times[k], times[k+1], tau[k])
		}
		part, r, err := Compute(transitionSet(snaps[k], snaps[k+1], set.D), opts)
		if err != nil {
			return nil, nil, err
		}
		for p := range part.W {
			part.K[p], part.Tau[p] = int64(k), tau[k]
		}
		c.X, c.Y, c.W = append(c.X, part.X...), append(c.Y, part.Y...), append(c.W, part.W...)
		c.K, c.Tau, c.Score = append(c.K, part.K...), append(c.Tau, part.Tau...), append(c.Score, part.Score...)
		rep.Transitions = append(rep.Transitions, r.Transitions...)
		rep.Snapshots = append(rep.Snapshots, r.Snapshots...)
	}
	return c, rep, nil
}

// transitionSet is the set of two snapshots alone, rows in the same order.
func transitionSet(src, dst snapshot.Snapshot, d int) *snapshot.Set {
	s := &snapshot.Set{D: d, X: slices.Concat(src.X, dst.X)}
	for range src.Len() {
		s.T = append(s.T, src.Time)
	}
	for range dst.Len() {
		s.T = append(s.T, dst.Time)
	}
	if src.ID != nil {
		s.ID = slices.Concat(src.ID, dst.ID)
	}
	return s
}

// shardField holds a shard file's record, {"index": i, "count": n}, as
// UTF-8 JSON bytes. Load refuses a file that has it: a shard is not whole
// couplings.
const shardField = "shard"

type shardRecord struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// SaveShard writes the shard's couplings (ComputeShard) as Save does, plus
// the shard record. Written atomically.
func (c *Couplings) SaveShard(path string, s Shard) error {
	arch, err := c.archive()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	b, _ := json.Marshal(shardRecord{s.Index, s.Count}) // two ints: cannot fail
	return npz.WriteFile(path, append(arch, npz.Entry{Name: shardField, Array: npz.FromBytes(b)}))
}

// Part is one shard file, read by LoadShard.
type Part struct {
	*Couplings
	Shard Shard
	Path  string
}

// LoadShard reads a file written by SaveShard.
func LoadShard(path string) (*Part, error) {
	arch, err := npz.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := shardOf(arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rest := slices.DeleteFunc(slices.Clone(arch), func(e npz.Entry) bool { return e.Name == shardField })
	c, err := fromArchive(rest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Provenance == nil {
		return nil, fmt.Errorf("%s: field %q: missing (every shard records its data and options)", path, provenanceField)
	}
	return &Part{Couplings: c, Shard: s, Path: path}, nil
}

// shardOf decodes the shard record.
func shardOf(arch npz.Archive) (Shard, error) {
	a := arch.Get(shardField)
	if a == nil {
		return Shard{}, fmt.Errorf("field %q: missing: not a shard (preprocess --shard writes them)", shardField)
	}
	var r shardRecord
	if !decodeJSONBytes(a, &r) || r.Count < 1 || r.Index < 0 || r.Index >= r.Count {
		return Shard{}, fmt.Errorf(`field %q: expected the JSON bytes of {"index": i, "count": n} with 0 ≤ i < n`, shardField)
	}
	return Shard{r.Index, r.Count}, nil
}

// errShardFile is Load's answer to a shard file.
func errShardFile(arch npz.Archive) error {
	if s, err := shardOf(arch); err == nil {
		return fmt.Errorf("field %q: shard %s of a sharded preprocess, not whole couplings: merge the shards with preprocess --merge", shardField, s)
	}
	return fmt.Errorf("field %q: a shard record, so not whole couplings: merge the shards with preprocess --merge", shardField)
}

// decodeJSONBytes decodes a 1-D uint8 array holding JSON into v, refusing
// unknown fields.
func decodeJSONBytes(a *npz.Array, v any) bool {
	if a.DType != "|u1" || len(a.Shape) != 1 {
		return false
	}
	b := make([]byte, len(a.Int))
	for i, x := range a.Int {
		b[i] = byte(x)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v) == nil
}

// Merge stacks the shards of one sharded run in transition order: the
// couplings an unsharded run computes, bit for bit. It refuses, in one line
// naming the files, shards of different counts, a missing or duplicated
// shard, shards of other data, options or times, and a shard that does not
// hold exactly its transitions.
func Merge(parts []*Part) (*Couplings, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("no shards to merge")
	}
	first := parts[0]
	n := first.Shard.Count
	byIndex := make([]*Part, n)
	for _, p := range parts {
		switch {
		case p.Shard.Count != n:
			return nil, fmt.Errorf("%s is shard %s but %s is shard %s: shards of different runs", p.Path, p.Shard, first.Path, first.Shard)
		case byIndex[p.Shard.Index] != nil:
			return nil, fmt.Errorf("%s and %s are both shard %s", byIndex[p.Shard.Index].Path, p.Path, p.Shard)
		}
		if err := p.Provenance.Mismatch(first.Provenance); err != nil {
			return nil, fmt.Errorf("%s: %w than %s", p.Path, err, first.Path)
		}
		if p.D != first.D || !slices.Equal(p.Times, first.Times) {
			return nil, fmt.Errorf("%s: d = %d and times %v, but %s has d = %d and times %v", p.Path, p.D, p.Times, first.Path, first.D, first.Times)
		}
		byIndex[p.Shard.Index] = p
	}
	var missing []string
	for i, p := range byIndex {
		if p == nil {
			missing = append(missing, Shard{i, n}.String())
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shard %s missing (have %d of %d)", strings.Join(missing, ", "), len(parts), n)
	}
	t := len(first.Times) - 1
	if n > t {
		return nil, fmt.Errorf("%d shards of %d transitions: at most %d", n, t, t)
	}
	// Each shard's pairs, split by transition.
	ranges := make([][2]int, t)
	for _, p := range byIndex {
		want := p.Shard.transitions(t)
		var have []int
		for lo := 0; lo < p.Len(); {
			k, hi := int(p.K[lo]), lo
			for hi < p.Len() && int(p.K[hi]) == k {
				hi++
			}
			have = append(have, k)
			ranges[k] = [2]int{lo, hi}
			lo = hi
		}
		if !slices.Equal(have, want) {
			return nil, fmt.Errorf("%s: shard %s should hold transitions %v in order, holds %v", p.Path, p.Shard, want, have)
		}
	}
	c := &Couplings{D: first.D, Times: first.Times, Provenance: first.Provenance}
	d := c.D
	for k, r := range ranges {
		p := byIndex[k%n]
		c.X = append(c.X, p.X[r[0]*d:r[1]*d]...)
		c.Y = append(c.Y, p.Y[r[0]*d:r[1]*d]...)
		c.Score = append(c.Score, p.Score[r[0]*d:r[1]*d]...)
		c.W = append(c.W, p.W[r[0]:r[1]]...)
		c.K = append(c.K, p.K[r[0]:r[1]]...)
		c.Tau = append(c.Tau, p.Tau[r[0]:r[1]]...)
	}
	return c, nil
}
