package main

import (
	"bufio"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/figure"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// trainedLosses is the per-epoch loss that train recorded in a model file.
func trainedLosses(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := modelfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	losses, err := recordedLosses(f)
	if err != nil {
		t.Fatal(err)
	}
	return losses
}

// TestTrainRecordsLosses: the model file holds every epoch's loss, as
// --log-json printed it, to 4 significant digits; a run resumed from a
// checkpoint holds the same losses as a run that was not interrupted.
func TestTrainRecordsLosses(t *testing.T) {
	dir := t.TempDir()
	data, log := filepath.Join(dir, "d.npz"), filepath.Join(dir, "log.json")
	mustRun(t, "generate", "--potential", "styblinski_tang", "--dim", "3", "--particles", "60", "--steps", "2", "--quiet", "--out", data)
	train := func(out string, epochs int, extra ...string) {
		mustRun(t, append([]string{"train", "--data", data, "--model", "potential", "--epochs", strconv.Itoa(epochs), "--batch-size", "16",
			"--device", "cpu", "--quiet", "--out", out}, extra...)...)
	}
	whole := filepath.Join(dir, "whole.safetensors")
	train(whole, 4, "--checkpoint-every", "0", "--log-json", log)
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var logged []float64
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var line struct{ Loss float64 }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		rounded, _ := strconv.ParseFloat(strconv.FormatFloat(line.Loss, 'g', 4, 64), 64)
		logged = append(logged, rounded)
	}
	if got := trainedLosses(t, whole); len(logged) != 4 || !slices.Equal(got, logged) {
		t.Fatalf("recorded losses %v, logged %v", got, logged)
	}
	half := filepath.Join(dir, "half.safetensors")
	train(half, 2, "--checkpoint-every", "1")
	train(half, 4, "--checkpoint-every", "1", "--resume", half+".ckpt")
	if got := trainedLosses(t, half); !slices.Equal(got, logged) {
		t.Fatalf("resumed run recorded %v, the uninterrupted one %v", got, logged)
	}
}

// TestPlotCells: cells in d = 3 are drawn on their principal plane with
// the learned potential and its predictions, beside the loss curve; the
// first and the last snapshot's dots are in the first and the last time
// colour.
func TestPlotCells(t *testing.T) {
	dir := t.TempDir()
	data, model, fig := filepath.Join(dir, "d.npz"), filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "f.png")
	mustRun(t, "generate", "--potential", "styblinski_tang", "--dim", "3", "--particles", "200", "--steps", "2", "--quiet", "--out", data)
	mustRun(t, "train", "--data", data, "--model", "potential", "--epochs", "3", "--device", "cpu", "--checkpoint-every", "0", "--quiet", "--out", model)
	for _, c := range []struct {
		args   []string
		panels int
	}{
		{[]string{"--model", model, "--data", data}, 2},                               // learned V + loss
		{[]string{"--model", model, "--data", data, "--truth", "styblinski_tang"}, 3}, // + true V
		{[]string{"--data", data, "--axes", "dims"}, 1},                               // the cells alone
	} {
		mustRun(t, append(append([]string{"plot"}, c.args...), "--out", fig)...)
		img := decodePNG(t, fig)
		if b := img.Bounds(); b.Dx() != c.panels*b.Dy() {
			t.Fatalf("plot %v: image %v, want %d square panels", c.args, b, c.panels)
		}
		for _, want := range []color.RGBA{figure.TimeColor(0), figure.TimeColor(1)} {
			if !containsColour(img, want) {
				t.Errorf("plot %v: no dot in the time colour %v", c.args, want)
			}
		}
	}
	mustFail(t, dir, []string{"d.npz", "m.safetensors", "f.png"}, "without --data plot draws 2-D potentials only, the model has d = 3",
		"plot", "--model", model, "--out", filepath.Join(dir, "g.png"))
	mustFail(t, dir, []string{"d.npz", "m.safetensors", "f.png"}, `--axes: expected pca or dims, got "sideways"`,
		"plot", "--data", data, "--axes", "sideways", "--out", filepath.Join(dir, "g.png"))
}

// TestThin: at most `most` rows a snapshot, every ⌈n/most⌉-th, ids kept.
func TestThin(t *testing.T) {
	set := &snapshot.Set{D: 1}
	for i := range 10 {
		set.X, set.T, set.ID = append(set.X, float64(i)), append(set.T, float64(i%2)), append(set.ID, int64(100+i))
	}
	got := thin(set, 2) // 5 rows a time: every 3rd
	if want := []float64{0, 6, 1, 7}; !slices.Equal(got.X, want) {
		t.Fatalf("thinned rows %v, want %v", got.X, want)
	}
	if want := []int64{100, 106, 101, 107}; !slices.Equal(got.ID, want) {
		t.Fatalf("thinned ids %v, want %v", got.ID, want)
	}
	if same := thin(set, 5); !slices.Equal(same.X, []float64{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}) {
		t.Fatalf("thin to the snapshot size kept %v", same.X)
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func containsColour(img image.Image, c color.RGBA) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				return true
			}
		}
	}
	return false
}
