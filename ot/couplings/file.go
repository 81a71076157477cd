package couplings

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
)

// Save writes the couplings as NPZ (docs/formats.md §2): x, y (K×d), w, k, tau
// (K), score (K×d), times (T+1), and the provenance as UTF-8 JSON bytes when
// known. Written atomically.
func (c *Couplings) Save(path string) error {
	arch, err := c.archive()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return npz.WriteFile(path, arch)
}

// archive is the NPZ content that Save writes.
func (c *Couplings) archive() (npz.Archive, error) {
	n := c.Len()
	arch := npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{n, c.D}, c.X)},
		{Name: "y", Array: npz.FromFloat64([]int{n, c.D}, c.Y)},
		{Name: "w", Array: npz.FromFloat64([]int{n}, c.W)},
		{Name: "k", Array: npz.FromInt64([]int{n}, c.K)},
		{Name: "tau", Array: npz.FromFloat64([]int{n}, c.Tau)},
		{Name: "score", Array: npz.FromFloat64([]int{n, c.D}, c.Score)},
		{Name: "times", Array: npz.FromFloat64([]int{len(c.Times)}, c.Times)},
	}
	if c.Provenance != nil {
		b, err := json.Marshal(c.Provenance)
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		arch = append(arch, npz.Entry{Name: provenanceField, Array: npz.FromBytes(b)})
	}
	return arch, nil
}

// Load reads and checks a couplings file written by Save (or by anyone
// following the same layout).
func Load(path string) (*Couplings, error) {
	arch, err := npz.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := fromArchive(arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func fromArchive(arch npz.Archive) (*Couplings, error) {
	if arch.Get(shardField) != nil {
		return nil, errShardFile(arch)
	}
	x, err := floatField(arch, "x", 2, -1, 0)
	if err != nil {
		return nil, err
	}
	k, d := x.Shape[0], x.Shape[1]
	if d < 1 {
		return nil, fmt.Errorf(`field "x": expected d ≥ 1 columns, got shape %s`, npz.FormatShape(x.Shape))
	}
	if k < 1 {
		return nil, fmt.Errorf(`field "x": expected at least one pair, got shape %s`, npz.FormatShape(x.Shape))
	}
	c := &Couplings{D: d, X: x.Float}
	for _, f := range []struct {
		name string
		rank int
		dst  *[]float64
	}{{"y", 2, &c.Y}, {"w", 1, &c.W}, {"tau", 1, &c.Tau}, {"score", 2, &c.Score}} {
		a, err := floatField(arch, f.name, f.rank, k, d)
		if err != nil {
			return nil, err
		}
		*f.dst = a.Float
	}
	times, err := floatField(arch, "times", 1, -1, 0)
	if err != nil {
		return nil, err
	}
	c.Times = times.Float
	if len(c.Times) < 2 {
		return nil, fmt.Errorf(`field "times": expected at least 2 snapshot times, got %d`, len(c.Times))
	}
	for i := 1; i < len(c.Times); i++ {
		if !(c.Times[i] > c.Times[i-1]) {
			return nil, fmt.Errorf(`field "times": expected increasing times, got %v after %v`, c.Times[i], c.Times[i-1])
		}
	}
	ka := arch.Get("k")
	if ka == nil || !ka.IsInt() || len(ka.Shape) != 1 || ka.Shape[0] != k {
		return nil, fmt.Errorf(`field "k": expected %d integer transition indices`, k)
	}
	c.K = ka.Int
	if c.Provenance, err = provenanceOf(arch); err != nil {
		return nil, err
	}
	for p, kk := range c.K {
		if kk < 0 || int(kk) >= len(c.Times)-1 {
			return nil, fmt.Errorf(`field "k": pair %d has transition %d, expected 0..%d`, p, kk, len(c.Times)-2)
		}
		if !(c.W[p] > 0) || !(c.Tau[p] > 0) {
			return nil, fmt.Errorf(`pair %d: expected positive w and tau, got w = %v, tau = %v`, p, c.W[p], c.Tau[p])
		}
	}
	return c, nil
}

// floatField returns the float array name of the given rank with rows rows
// (any if rows < 0) and, for rank 2, cols columns (any if cols ≤ 0), all
// finite.
func floatField(arch npz.Archive, name string, rank, rows, cols int) (*npz.Array, error) {
	a := arch.Get(name)
	want := fmt.Sprintf("a %d-D float array", rank)
	if rows >= 0 && rank == 1 {
		want = fmt.Sprintf("%d float values", rows)
	} else if rows >= 0 {
		want = fmt.Sprintf("a %d×%d float array", rows, cols)
	}
	if a == nil {
		return nil, fmt.Errorf("field %q: missing (expected %s)", name, want)
	}
	if !a.IsFloat() || len(a.Shape) != rank || (rows >= 0 && a.Shape[0] != rows) || (rank == 2 && cols > 0 && a.Shape[1] != cols) {
		return nil, fmt.Errorf("field %q: expected %s, got %s of shape %s", name, want, a.TypeName(), npz.FormatShape(a.Shape))
	}
	for i, v := range a.Float {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("field %q: entry %d is %v, expected finite values", name, i, v)
		}
	}
	return a, nil
}

// provenanceOf decodes the optional provenance field: UTF-8 JSON bytes of a
// Provenance with a 64-hex-digit data hash.
func provenanceOf(arch npz.Archive) (*Provenance, error) {
	a := arch.Get(provenanceField)
	if a == nil {
		return nil, nil
	}
	p := &Provenance{}
	if !decodeJSONBytes(a, p) || len(p.Data) != 64 {
		return nil, fmt.Errorf(`field %q: expected the JSON bytes of {"data_sha256": ..., "options": {...}}`, provenanceField)
	}
	return p, nil
}
