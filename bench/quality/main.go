// Command quality produces the quality tables of the README: for zoo
// energies it generates data (N particles, T = 5 steps, dt = 0.01), splits
// it, trains a model and reports the one-step W1 on the test set beside the
// no-motion and oracle baselines, using the jkonet-gpu binary as a user
// would.
//
//	go run ./bench/quality -bin bin/jkonet-gpu -out bench/quality.md [-epochs 1000] [-sections potentials,smalldt,linear,splits,interaction,diffusion]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// qualityCase is one row: data, split and model.
type qualityCase struct {
	Potential, Interaction string
	Beta                   float64
	DT                     float64 // generator step; 0 means 0.01
	Model, Split           string
	Particles              int
}

func (c qualityCase) data() string {
	return fmt.Sprintf("%s_%s_b%g_dt%g_n%d", c.Potential, c.Interaction, c.Beta, c.dt(), c.Particles)
}

func (c qualityCase) dt() float64 {
	if c.DT == 0 {
		return 0.01
	}
	return c.DT
}

// row is a case's result.
type row struct {
	qualityCase
	Learned, NoMotion, Oracle, Floor float64
	Beta                             *float64
	// Tracked is the learned W1 when training on the tracked pairs
	// (--coupling ids) instead of OT couplings; nil if not run.
	Tracked *float64
	// Folded is the largest fraction over the steps of particles whose
	// drift step folds space (generate's meta).
	Folded  float64
	Seconds float64
}

type evalJSON struct {
	Mean      float64                           `json:"mean"`
	Beta      *float64                          `json:"beta"`
	Baselines map[string]struct{ Mean float64 } `json:"baselines"`
}

func main() {
	bin := flag.String("bin", "bin/jkonet-gpu", "the jkonet-gpu binary")
	out := flag.String("out", "bench/quality.md", "markdown output")
	epochs := flag.Int("epochs", 1000, "training epochs")
	sections := flag.String("sections", "potentials,smalldt,linear,splits,interaction,diffusion", "tables to produce")
	flag.Parse()
	work, err := os.MkdirTemp("", "jkonet-quality-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	q := &runner{bin: *bin, work: work, epochs: *epochs}
	var md bytes.Buffer
	fmt.Fprintf(&md, "<!-- produced by `go run ./bench/quality -epochs %d` on %s; %d cores -->\n\n", *epochs, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU())
	for _, s := range strings.Split(*sections, ",") {
		table, ok := tables[s]
		if !ok {
			fail(fmt.Errorf("-sections: unknown table %q", s))
		}
		fmt.Fprintf(&md, "#### %s\n\n%s\n\n", table.title, table.note)
		var rows []row
		for _, c := range table.cases() {
			r, err := q.run(c, table.tracked)
			if err != nil {
				fail(fmt.Errorf("%+v: %v", c, err))
			}
			fmt.Fprintf(os.Stderr, "%s %s %s: learned %.4f no-motion %.4f oracle %.4f (%.0f s)\n", c.data(), c.Model, c.Split, r.Learned, r.NoMotion, r.Oracle, r.Seconds)
			rows = append(rows, r)
		}
		writeTable(&md, rows, s == "splits", table.tracked)
		fmt.Fprintln(&md)
		if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil { // after each table, so a long run shows progress
			fail(err)
		}
	}
}

type table struct {
	title, note string
	cases       func() []qualityCase
	tracked     bool // also train on the tracked pairs
}

var tables = map[string]table{
	"potentials": {"All 15 zoo potentials, `potential` model",
		"N 2000, T 5, dt 0.01, β 0, 50/50 trajectory split. Pass: learned W1 ≤ 0.2 × no-motion W1 wherever no-motion W1 ≥ 0.05. " +
			"Folded: the largest share over the 5 steps of particles that the generator's step moves past a neighbour (`generate` warns above 1%); no JKO step does that, so no model of this form fits such data and OT pairs differ from the trajectories. " +
			"Tracked pairs: the same training on the true trajectory pairs (`--coupling ids`) instead of OT couplings.",
		func() []qualityCase {
			var cs []qualityCase
			for _, p := range zoo.Names() {
				cs = append(cs, qualityCase{Potential: p, Model: "potential", Split: "trajectory", Particles: 2000})
			}
			return cs
		}, true},
	"smalldt": {"The folding potentials at dt = 0.001",
		"As the first table, but generated with dt = 0.001, where no step folds (styblinski_tang for contrast). No-motion W1 shrinks with dt, so the pass rule applies only where it stays ≥ 0.05.",
		func() []qualityCase {
			var cs []qualityCase
			for _, p := range []string{"bohachevsky", "friedman", "holder_table", "styblinski_tang"} {
				cs = append(cs, qualityCase{Potential: p, DT: 0.001, Model: "potential", Split: "trajectory", Particles: 2000})
			}
			return cs
		}, true},
	"interaction": {"Potential + interaction, β = 0",
		"`potential-interaction` and `jkonet-star` (two subsamples of 4 interaction samples per pair), trajectory split.",
		func() []qualityCase {
			var cs []qualityCase
			for _, pi := range [][2]string{{"wavy_plateau", "sphere"}, {"styblinski_tang", "flowers"}} {
				for _, m := range []string{"potential-interaction", "jkonet-star"} {
					cs = append(cs, qualityCase{Potential: pi[0], Interaction: pi[1], Model: m, Split: "trajectory", Particles: 2000})
				}
			}
			return cs
		}, false},
	"diffusion": {"With diffusion, β > 0",
		"W1 beside the oracle's (which has the same noise level), learned β beside the true β·dt. β is weakly identifiable with V free (README).",
		func() []qualityCase {
			var cs []qualityCase
			for _, p := range []string{"wavy_plateau"} {
				for _, b := range []float64{0.1, 0.2} {
					cs = append(cs, qualityCase{Potential: p, Beta: b, Model: "jkonet-star", Split: "trajectory", Particles: 2000})
				}
			}
			return cs
		}, false},
	"splits": {"Population and independent splits, `potential` model",
		"The floor column is the W1 between the train and test halves of the same snapshot, the scale of the sampling noise between two samples of one population (the trajectory split's test particles are the same at every time, so its errors can go below it; the population split's consecutive test snapshots share about half their particles). The independent split keeps each particle in one snapshot only, so it is generated with 6 × 2000 particles.",
		func() []qualityCase {
			var cs []qualityCase
			for _, p := range []string{"styblinski_tang", "wavy_plateau"} {
				cs = append(cs, qualityCase{Potential: p, Model: "potential", Split: "trajectory", Particles: 2000},
					qualityCase{Potential: p, Model: "potential", Split: "population", Particles: 2000},
					qualityCase{Potential: p, Model: "potential", Split: "independent", Particles: 12000})
			}
			return cs
		}, false},
	"linear": {"Linear models in 2-D",
		"Closed-form fits (no SGD), trajectory split.",
		func() []qualityCase {
			var cs []qualityCase
			for _, p := range []string{"styblinski_tang", "wavy_plateau", "oakley_ohagan", "bohachevsky"} {
				cs = append(cs, qualityCase{Potential: p, Model: "linear-potential", Split: "trajectory", Particles: 2000},
					qualityCase{Potential: p, Model: "linear", Split: "trajectory", Particles: 2000})
			}
			return cs
		}, true},
}

type runner struct {
	bin, work string
	epochs    int
}

func (q *runner) cli(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(q.bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", q.bin, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (q *runner) run(c qualityCase, tracked bool) (row, error) {
	start := time.Now()
	r := row{qualityCase: c}
	dir := filepath.Join(q.work, c.data())
	all := filepath.Join(dir, "all.npz")
	if _, err := os.Stat(all); err != nil {
		os.MkdirAll(dir, 0o755)
		args := []string{"generate", "--potential", c.Potential, "--beta", fmt.Sprint(c.Beta), "--dt", fmt.Sprint(c.dt()), "--particles", fmt.Sprint(c.Particles), "--quiet", "--out", all}
		if c.Interaction != "" {
			args = append(args, "--interaction", c.Interaction)
		}
		if _, err := q.cli(args...); err != nil {
			return r, err
		}
	}
	train, test := filepath.Join(dir, c.Split+"-train.npz"), filepath.Join(dir, c.Split+"-test.npz")
	if _, err := os.Stat(train); err != nil {
		if _, err := q.cli("split", "--data", all, "--by", c.Split, "--train", train, "--test", test, "--quiet"); err != nil {
			return r, err
		}
	}
	ev, err := q.trainEval(dir, c, train, test, "exact")
	if err != nil {
		return r, err
	}
	r.Learned, r.Beta = ev.Mean, ev.Beta
	r.NoMotion, r.Oracle = ev.Baselines["no_motion"].Mean, ev.Baselines["oracle"].Mean
	if tracked {
		ev, err := q.trainEval(dir, c, train, test, "ids")
		if err != nil {
			return r, err
		}
		r.Tracked = &ev.Mean
	}
	if r.Folded, err = largestFold(all); err != nil {
		return r, err
	}
	if r.Floor, err = samplingFloor(train, test); err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// trainEval trains c's model on train with the given coupling method and
// evaluates it on test.
func (q *runner) trainEval(dir string, c qualityCase, train, test, coupling string) (evalJSON, error) {
	var ev evalJSON
	name := filepath.Join(dir, c.Split+"-"+coupling)
	model := name + "-" + c.Model + ".safetensors"
	// The interaction tables were measured with two subsamples of 4 points
	// per pair on the CPU; say so to the trainer, whatever its default.
	if _, err := q.cli("train", "--data", train, "--couplings", name+"-couplings.npz", "--coupling", coupling, "--model", c.Model,
		"--epochs", fmt.Sprint(q.epochs), "--interaction-samples", "4", "--device", "cpu", "--checkpoint-every", "0", "--quiet", "--out", model); err != nil {
		return ev, err
	}
	out, err := q.cli("eval", "--model", model, "--data", test, "--json")
	if err != nil {
		return ev, err
	}
	return ev, json.Unmarshal([]byte(out), &ev)
}

// largestFold reads the per-step fold fractions generate stored in the
// file's meta and returns the largest.
func largestFold(path string) (float64, error) {
	set, err := snapshot.Load(path, snapshot.LoadOptions{})
	if err != nil {
		return 0, err
	}
	var meta struct{ Folded []float64 }
	if err := json.Unmarshal(set.Meta, &meta); err != nil || len(meta.Folded) == 0 {
		return 0, fmt.Errorf("%s: no fold fractions in the meta JSON (%w)", path, err)
	}
	return slices.Max(meta.Folded), nil
}

// samplingFloor is the mean over the predicted times t_1..t_T of the W1
// between the train and test snapshots at the same time.
func samplingFloor(trainPath, testPath string) (float64, error) {
	tr, err := snapshot.Load(trainPath, snapshot.LoadOptions{})
	if err != nil {
		return 0, err
	}
	te, err := snapshot.Load(testPath, snapshot.LoadOptions{})
	if err != nil {
		return 0, err
	}
	a, b := tr.Snapshots(), te.Snapshots()
	var floor float64
	for k := 1; k < len(a); k++ {
		w, err := ot.W1(a[k].X, b[k].X, tr.D)
		if err != nil {
			return 0, err
		}
		floor += w / float64(len(a)-1)
	}
	return floor, nil
}

func writeTable(w io.Writer, rows []row, withFloor, withTracked bool) {
	header := "| potential | interaction | β | dt | model | split | learned W1 | no motion | oracle | learned / no motion | pass | learned β | true β·dt | folded |"
	rule := "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	if withTracked {
		header += " tracked pairs: learned W1 | tracked / no motion |"
		rule += "---|---|"
	}
	if withFloor {
		header += " floor |"
		rule += "---|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)
	for _, r := range rows {
		ratio := func(v float64) string {
			if r.NoMotion > 0 {
				return fmt.Sprintf("%.3f", v/r.NoMotion)
			}
			return "—"
		}
		pass := "—"
		if r.qualityCase.Beta == 0 && r.NoMotion >= 0.05 && r.Split == "trajectory" {
			pass = map[bool]string{true: "yes", false: "**no**"}[r.Learned <= 0.2*r.NoMotion]
		}
		beta, trueBeta := "—", "—"
		if r.Beta != nil {
			beta, trueBeta = fmt.Sprintf("%.4f", *r.Beta), fmt.Sprintf("%.4f", r.qualityCase.Beta*r.dt())
		}
		inter := r.Interaction
		if inter == "" {
			inter = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %g | %g | %s | %s | %.4f | %.4f | %.4f | %s | %s | %s | %s | %.0f%% |", r.Potential, inter, r.qualityCase.Beta, r.dt(), r.Model, r.Split,
			r.Learned, r.NoMotion, r.Oracle, ratio(r.Learned), pass, beta, trueBeta, 100*r.Folded)
		if withTracked && r.Tracked != nil {
			fmt.Fprintf(w, " %.4f | %s |", *r.Tracked, ratio(*r.Tracked))
		}
		if withFloor {
			fmt.Fprintf(w, " %.4f |", r.Floor)
		}
		fmt.Fprintln(w)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "quality:", err)
	os.Exit(1)
}
