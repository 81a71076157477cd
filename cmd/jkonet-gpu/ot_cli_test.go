package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// TestDistance: a point set and its translate by s are at W1 = W2 = ‖s‖.
func TestDistance(t *testing.T) {
	dir := t.TempDir()
	a := &snapshot.Set{D: 2, X: []float64{0, 0, 1, 0, 0, 2, 3, 1}, T: []float64{0, 0, 1, 1}}
	b := &snapshot.Set{D: 2, X: make([]float64, 8), T: []float64{5, 5, 5, 5}}
	for i := range a.X {
		b.X[i] = a.X[i] + []float64{0.3, 0.4}[i%2] // shift by (0.3, 0.4), norm 0.5
	}
	pa, pb := filepath.Join(dir, "a.npz"), filepath.Join(dir, "b.npz")
	if err := a.Save(pa); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(pb); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"1", "2"} {
		var res struct {
			P        int
			Distance float64
			Seconds  float64
		}
		out := mustRun(t, "distance", "--a", pa, "--b", pb, "--p", p, "--json")
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("distance --json printed %q: %v", out, err)
		}
		if math.Abs(res.Distance-0.5) > 1e-12 || res.P != int(p[0]-'0') || res.Seconds < 0 {
			t.Fatalf("W%s = %+v, want 0.5", p, res)
		}
	}
	c := &snapshot.Set{D: 3, X: make([]float64, 3), T: []float64{0}}
	pc := filepath.Join(dir, "c.npz")
	c.Save(pc)
	keep := []string{"a.npz", "b.npz", "c.npz"}
	mustFail(t, dir, keep, "has d = 2 but", "distance", "--a", pa, "--b", pc)
	mustFail(t, dir, keep, "--p: expected 1 or 2", "distance", "--a", pa, "--b", pb, "--p", "3")
}

func TestPreprocess(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all.npz")
	mustRun(t, "generate", "--potential", "styblinski_tang", "--particles", "60", "--steps", "2", "--quiet", "--out", all)
	out := filepath.Join(dir, "c.npz")
	var rep couplings.Report
	if err := json.Unmarshal([]byte(mustRun(t, "preprocess", "--data", all, "--out", out, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Transitions) != 2 || rep.Transitions[0].Pairs != 60 || rep.Transitions[0].N != 60 || len(rep.Snapshots) != 2 || rep.Snapshots[0].Components < 1 {
		t.Fatalf("report %+v", rep)
	}
	c, err := couplings.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 120 || len(c.Times) != 3 {
		t.Fatalf("%d pairs, %d times", c.Len(), len(c.Times))
	}
	// styblinski_tang's step does not fold, so the tracked pairs are an
	// optimal plan: the same cost as exact OT.
	var byID couplings.Report
	if err := json.Unmarshal([]byte(mustRun(t, "preprocess", "--data", all, "--out", out, "--coupling", "ids", "--json")), &byID); err != nil {
		t.Fatal(err)
	}
	for k, tr := range byID.Transitions {
		if tr.Pairs != 60 || math.Abs(tr.Cost-rep.Transitions[k].Cost) > 1e-12*rep.Transitions[k].Cost {
			t.Errorf("transition %d: ids coupling %d pairs of cost %v, exact OT cost %v", k, tr.Pairs, tr.Cost, rep.Transitions[k].Cost)
		}
	}
	mustRun(t, "preprocess", "--data", all, "--out", out, "--coupling", "sinkhorn", "--ot-block", "30", "--quiet")

	// --exact-max: auto is recorded as its value in d = 2; a number blocks
	// the 60 points a snapshot above it.
	for flag, want := range map[string]int{"auto": 50000, "40": 40} {
		var blocked couplings.Report
		if err := json.Unmarshal([]byte(mustRun(t, "preprocess", "--data", all, "--out", out, "--exact-max", flag, "--json", "--quiet")), &blocked); err != nil {
			t.Fatal(err)
		}
		c, err := couplings.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if tr := blocked.Transitions[0]; c.Provenance.Options.ExactMax != want || tr.Automatic != (want == 40) || tr.Automatic && tr.Blocks != 2 {
			t.Errorf("--exact-max %s: provenance exact_max %d, report %+v; want %d, blocked only below 60", flag, c.Provenance.Options.ExactMax, tr, want)
		}
	}

	// Bad input: ε ≤ 0, one snapshot only, a NaN coordinate, ids without ids.
	keep := []string{"all.npz", "c.npz", "one.npz", "nan.npz", "noids.npz"}
	noIDs := &snapshot.Set{D: 1, X: []float64{1, 2, 3, 4}, T: []float64{0, 0, 1, 1}}
	noIDs.Save(filepath.Join(dir, "noids.npz"))
	mustFail(t, dir, keep, "no trajectory ids", "preprocess", "--data", filepath.Join(dir, "noids.npz"), "--out", filepath.Join(dir, "x.npz"), "--coupling", "ids")
	mustFail(t, dir, keep, "--epsilon", "preprocess", "--data", all, "--out", filepath.Join(dir, "x.npz"), "--coupling", "sinkhorn", "--epsilon", "0")
	for _, bad := range []string{"lots", "-1", "1e5"} {
		mustFail(t, dir, keep, `--exact-max: expected auto or a number of points ≥ 0 (0: never block on its own), got "`+bad+`"`, "preprocess", "--data", all, "--out", filepath.Join(dir, "x.npz"), "--exact-max", bad)
	}
	one := &snapshot.Set{D: 1, X: []float64{1, 2, 3}, T: []float64{0, 0, 0}}
	one.Save(filepath.Join(dir, "one.npz"))
	mustFail(t, dir, keep, "need at least 2 snapshot times", "preprocess", "--data", filepath.Join(dir, "one.npz"), "--out", filepath.Join(dir, "x.npz"))
	writeNPZWithNaN(t, filepath.Join(dir, "nan.npz"))
	mustFail(t, dir, keep, "nan.npz", "preprocess", "--data", filepath.Join(dir, "nan.npz"), "--out", filepath.Join(dir, "x.npz"))
}
