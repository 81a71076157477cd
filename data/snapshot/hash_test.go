package snapshot

import "testing"

// TestHash: the fingerprint is that of the rows: equal for a copy, different
// when one coordinate, time, id or the row order changes.
func TestHash(t *testing.T) {
	s := &Set{D: 2, X: []float64{0, 1, 2, 3, 4, 5}, T: []float64{0, 0, 1}, ID: []int64{7, 8, 7}, DT: 0.5}
	copyOf := func() *Set {
		c := *s
		c.X, c.T, c.ID = append([]float64(nil), s.X...), append([]float64(nil), s.T...), append([]int64(nil), s.ID...)
		c.DT = 0.1
		return &c
	}
	want := s.Hash()
	if len(want) != 64 || copyOf().Hash() != want {
		t.Fatalf("a copy hashes to %s, the set to %s", copyOf().Hash(), want)
	}
	for name, edit := range map[string]func(*Set){
		"coordinate": func(c *Set) { c.X[3] = 3.0000000001 },
		"time":       func(c *Set) { c.T[2] = 2 },
		"id":         func(c *Set) { c.ID[1] = 9 },
		"row order": func(c *Set) {
			c.X[0], c.X[2], c.X[1], c.X[3], c.ID[0], c.ID[1] = c.X[2], c.X[0], c.X[3], c.X[1], c.ID[1], c.ID[0]
		},
		"no ids": func(c *Set) { c.ID = nil },
	} {
		c := copyOf()
		edit(c)
		if c.Hash() == want {
			t.Errorf("changing the %s left the hash unchanged", name)
		}
	}
}
