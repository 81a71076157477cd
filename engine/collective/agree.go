package collective

import (
	"bytes"
	"fmt"
	"strings"
)

// Field is one entry of a rank's fingerprint: what must be the same on
// every rank of a data-parallel run (the data's hash, a training flag, the
// network's size), as Name (a flag, "data sha256") and Value.
type Field struct{ Name, Value string }

// DisagreeError says that two ranks hold different fingerprints: the first
// field (in rank 0's order) where the first rank that differs from rank 0
// holds another value.
type DisagreeError struct {
	Field        string
	Rank0, Other string // the values; "(none)" where a rank lacks the field
	Rank         int    // the first rank that differs from rank 0
}

func (e *DisagreeError) Error() string {
	return fmt.Sprintf("the ranks disagree on %s: rank 0 has %s, rank %d has %s; launch every rank with the same build, data and training flags",
		e.Field, e.Rank0, e.Rank, e.Other)
}

// maxFingerprint bounds a fingerprint's encoding (the values are short).
const maxFingerprint = 1 << 16

// encodeFields is fp as bytes: name, 0x1f, value, 0x1e for each field.
// Names and values lose the two separators (no flag or hash holds them).
func encodeFields(fp []Field) []byte {
	var b bytes.Buffer
	clean := strings.NewReplacer("\x1f", " ", "\x1e", " ")
	for _, f := range fp {
		b.WriteString(clean.Replace(f.Name))
		b.WriteByte(0x1f)
		b.WriteString(clean.Replace(f.Value))
		b.WriteByte(0x1e)
	}
	return b.Bytes()
}

// decodeFields inverts encodeFields.
func decodeFields(b []byte) []Field {
	var out []Field
	for _, rec := range strings.Split(string(b), "\x1e") {
		if name, value, ok := strings.Cut(rec, "\x1f"); ok {
			out = append(out, Field{Name: name, Value: value})
		}
	}
	return out
}

// Compare returns the DisagreeError for the first field (in mine's order,
// then theirs') that differs between rank 0's fingerprint mine and rank's
// theirs, nil when none does.
func Compare(mine, theirs []Field, rank int) *DisagreeError {
	find := func(fp []Field, name string) string {
		for _, f := range fp {
			if f.Name == name {
				return f.Value
			}
		}
		return "(none)"
	}
	for _, f := range mine {
		if v := find(theirs, f.Name); v != f.Value {
			return &DisagreeError{Field: f.Name, Rank0: f.Value, Other: v, Rank: rank}
		}
	}
	for _, f := range theirs {
		if v := find(mine, f.Name); v != f.Value {
			return &DisagreeError{Field: f.Name, Rank0: v, Other: f.Value, Rank: rank}
		}
	}
	return nil
}

// Agree compares every rank's fingerprint fp with rank 0's, through sums of
// buffers whose lengths every rank knows before it sums them (so ranks that
// disagree never sum buffers of different lengths): the lengths of the
// encodings, rank 0's encoding, which ranks differ from it, and the first
// of those's encoding. Every rank returns the same *DisagreeError when some
// rank differs, nil when all agree. Every rank of c must call Agree at the
// same point.
func Agree(c Collective, fp []Field) error {
	n, r := c.Size(), c.Rank()
	if n == 1 {
		return nil
	}
	mine := encodeFields(fp)
	if len(mine) > maxFingerprint {
		mine = mine[:maxFingerprint]
	}
	lens := make([]float64, n)
	lens[r] = float64(len(mine))
	if err := c.AllReduceSum(lens); err != nil {
		return fmt.Errorf("comparing the ranks' settings: %w", err)
	}
	for k, l := range lens {
		if l < 0 || l > maxFingerprint || l != float64(int(l)) {
			return fmt.Errorf("comparing the ranks' settings: rank %d sent a fingerprint of %v bytes", k, l)
		}
	}
	from := func(k int) ([]byte, error) {
		buf := make([]float64, int(lens[k]))
		if k == r {
			for i, b := range mine {
				buf[i] = float64(b)
			}
		}
		if err := c.AllReduceSum(buf); err != nil {
			return nil, fmt.Errorf("comparing the ranks' settings: %w", err)
		}
		out := make([]byte, len(buf))
		for i, v := range buf {
			out[i] = byte(v)
		}
		return out, nil
	}
	first, err := from(0)
	if err != nil {
		return err
	}
	differs := make([]float64, n)
	if r != 0 && !bytes.Equal(first, mine) {
		differs[r] = 1
	}
	if err := c.AllReduceSum(differs); err != nil {
		return fmt.Errorf("comparing the ranks' settings: %w", err)
	}
	for k, d := range differs {
		if d == 0 {
			continue
		}
		theirs, err := from(k)
		if err != nil {
			return err
		}
		if e := Compare(decodeFields(first), decodeFields(theirs), k); e != nil {
			return e
		}
		return &DisagreeError{Field: "the settings' encoding", Rank0: fmt.Sprintf("%x", first), Other: fmt.Sprintf("%x", theirs), Rank: k}
	}
	return nil
}
