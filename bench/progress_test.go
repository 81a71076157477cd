package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type row string

func (r row) String() string { return string(r) }

// TestComparisonRowsAsTheyCome: each case's row is printed before the
// next case runs (bench printed nothing for minutes, then everything); a
// missing peer is one note.
func TestComparisonRowsAsTheyCome(t *testing.T) {
	var out strings.Builder
	var seen []string // what was printed when each case started
	err := printComparison(&out, "title", []int{1, 2, 3}, func(c []int) ([]row, error) {
		seen = append(seen, out.String())
		return []row{row(fmt.Sprintf("case %d", c[0]))}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"title\n", "title\n  case 1\n", "title\n  case 1\n  case 2\n"}
	if fmt.Sprint(seen) != fmt.Sprint(want) || out.String() != "title\n  case 1\n  case 2\n  case 3\n" {
		t.Fatalf("printed before each case %q, in all %q", seen, out.String())
	}
	out.Reset()
	err = printComparison(&out, "title", []int{1, 2}, func([]int) ([]row, error) { return nil, fmt.Errorf("peer: %w", ErrNoPeer) })
	if err != nil || strings.Count(out.String(), "skipped") != 1 {
		t.Fatalf("missing peer: %v, %q", err, out.String())
	}
	boom := errors.New("boom")
	if err := printComparison(&out, "title", []int{1}, func([]int) ([]row, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
}

// TestRunGPUShowsProgress: the CPU-vs-GPU table comes at the end, and a
// line per case comes as each is measured, in order.
func TestRunGPUShowsProgress(t *testing.T) {
	var out strings.Builder
	if err := Run(&out, gpuOptions("cpu", "")); err != nil {
		t.Fatal(err)
	}
	o := gpuOptions("cpu", "")
	n := len(GPUCases(o.Sizes, o.Dims, o.Targets))
	text := out.String()
	for k := 1; k <= n; k++ {
		if !strings.Contains(text, fmt.Sprintf("  measured %d/%d: ", k, n)) {
			t.Fatalf("no progress line %d/%d in\n%s", k, n, text)
		}
	}
	if strings.Index(text, fmt.Sprintf("measured %d/%d", n, n)) > strings.Index(text, "CPU vs GPU") {
		t.Errorf("the progress lines come after the table:\n%s", text)
	}
}
