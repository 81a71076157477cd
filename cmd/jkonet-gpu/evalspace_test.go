package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TestEvalInInputSpace: eval --space input measures in the input's
// coordinates. For a model trained with --standardize the inverse is
// exact, so the no-motion baseline equals W1 between the raw snapshots,
// computed here from the file directly, while in the model's space it is
// that of the z-scored cells. --space input without a model is refused.
func TestEvalInInputSpace(t *testing.T) {
	dir := t.TempDir()
	data, model := filepath.Join(dir, "all.npz"), filepath.Join(dir, "m.safetensors")
	mustRun(t, "generate", "--potential", "wavy_plateau", "--dim", "2", "--particles", "150", "--steps", "2", "--quiet", "--out", data)
	mustRun(t, "train", "--data", data, "--model", "linear-potential", "--standardize", "--device", "cpu", "--quiet", "--out", model)
	scores := map[string]evalResult{}
	for _, space := range []string{"model", "input"} {
		var res evalResult
		if err := json.Unmarshal([]byte(mustRun(t, "eval", "--model", model, "--data", data, "--space", space, "--json")), &res); err != nil {
			t.Fatal(err)
		}
		scores[space] = res
	}
	set, err := snapshot.Load(data, snapshot.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	for k, tr := range scores["input"].Baselines["no_motion"].Transitions {
		want, _ := ot.W1(snaps[k].X, snaps[k+1].X, 2)
		inModel := scores["model"].Baselines["no_motion"].Transitions[k].Error
		if math.Abs(tr.Error-want) > 1e-9*want || math.Abs(inModel-want) < 1e-6 {
			t.Fatalf("t=%v: no motion %v in input space, want the raw cells' %v (model space: %v)", tr.From, tr.Error, want, inModel)
		}
	}
	if scores["input"].Space != "input" || scores["model"].Space != "" {
		t.Fatalf("spaces %q and %q", scores["input"].Space, scores["model"].Space)
	}
	mustFail(t, dir, []string{"all.npz", "m.safetensors"}, "--space input: the input's coordinates are a model's",
		"eval", "--truth", "wavy_plateau", "--data", data, "--space", "input")
}
