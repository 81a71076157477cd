package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListedAndBoundedLine(t *testing.T) {
	if got := listed([]float64{0, 0.5, 2}); got != "[0 0.5 2]" {
		t.Errorf("listed(3) = %q", got)
	}
	var many []float64
	for i := range 600 {
		many = append(many, float64(i))
	}
	if got, want := listed(many), "[0 1 2 3 4 5 6 … 599] (600 in all)"; got != want {
		t.Errorf("listed(600) = %q, want %q", got, want)
	}
	long := strings.Repeat("é", 1500) // 3000 bytes
	got := boundedLine(long)
	if want := strings.Repeat("é", 1000) + "… (1000 more bytes)"; got != want {
		t.Errorf("boundedLine: %d bytes %.40q…, want %d bytes", len(got), got, len(want))
	}
	if boundedLine("short") != "short" {
		t.Error("boundedLine cut a short line")
	}
}

// TestWarningsStayShort (issue 19): eval on data at many times the model
// was not trained at warned with every time listed (109 KB on a real
// file); the list is elided with a count.
func TestWarningsStayShort(t *testing.T) {
	dir := t.TempDir()
	train, _ := smallRun(t, dir)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", train, "--model", "linear-potential", "--quiet", "--out", model)
	var x, tt []float64
	var id []int64
	for i := range 600 {
		x = append(x, float64(i%7), float64(i%5), float64(i%3), float64(i%11))
		tt = append(tt, float64(i), float64(i))
		id = append(id, int64(2*i), int64(2*i+1))
	}
	data := filepath.Join(dir, "many.npz")
	if err := os.WriteFile(data, snapshotNPZ(x, 2, tt, id), 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, errOut := jk(t, "eval", "--model", model, "--data", data)
	var warning string
	for _, l := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(l, "warning: ") && strings.Contains(l, "not trained at") {
			warning = l
		}
	}
	if warning == "" || len(warning) > 400 || !strings.Contains(warning, "[4 5 6 7 8 9 10 … 599] (596 in all)") {
		t.Errorf("status %d, warning of %d bytes: %.600s", status, len(warning), warning)
	}
}
