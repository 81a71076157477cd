package snapshot

import "testing"

func TestFromTrajectories(t *testing.T) {
	s := FromTrajectories([][]float64{{1, 2, 3, 4}, {5, 6, 7, 8}}, 2)
	if s.Len() != 4 || s.D != 2 || s.T[2] != 1 || s.ID[3] != 1 || s.ID[2] != 0 || s.Row(3)[1] != 8 {
		t.Fatalf("got %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
