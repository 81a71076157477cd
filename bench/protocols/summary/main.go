// Command summary turns the runs of bench/protocols/run.sh into one row of a
// markdown table: the one-step W1 of the model and of no motion (from the
// eval JSON of each seed), and the same-day sampling floor, W1 between the
// held-out and the training cells of each target day, in the coordinates
// eval measured in (the prepared NPZ files). Each is the mean over
// transitions (target days) and then mean ± std over seeds (population std).
//
//	summary -name EB -published "0.62 (JKOnet*, all 16.8k cells)" run/seed0 run/seed1 …
//
// Each directory holds eval.json, train.npz and test.npz.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

type report struct {
	Mean float64 `json:"mean"`
}

type evalJSON struct {
	report
	Baselines map[string]report `json:"baselines"`
}

// seedRun is one seed's mean one-step W1 of the model, of no motion, and
// the sampling floor.
type seedRun struct{ model, noMotion, floor float64 }

func main() {
	name := flag.String("name", "", "row label")
	published := flag.String("published", "—", "published number to show beside ours")
	flag.Parse()
	if err := run(*name, *published, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
}

func run(name, published string, dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("no run directories given")
	}
	var runs []seedRun
	for _, dir := range dirs {
		r, err := readRun(dir)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	col := func(f func(seedRun) float64) string {
		m, s := meanStd(runs, f)
		return fmt.Sprintf("%.3f ± %.3f", m, s)
	}
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, len(runs),
		col(func(r seedRun) float64 { return r.model }),
		col(func(r seedRun) float64 { return r.noMotion }),
		col(func(r seedRun) float64 { return r.floor }),
		col(func(r seedRun) float64 { return r.model / r.noMotion }),
		col(func(r seedRun) float64 { return r.floor / r.noMotion }),
		published)
	return nil
}

func readRun(dir string) (seedRun, error) {
	var r seedRun
	raw, err := os.ReadFile(filepath.Join(dir, "eval.json"))
	if err != nil {
		return r, err
	}
	var ev evalJSON
	if err := json.Unmarshal(raw, &ev); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, "eval.json"), err)
	}
	nm, ok := ev.Baselines["no_motion"]
	if !ok {
		return r, fmt.Errorf("%s: no no_motion baseline", filepath.Join(dir, "eval.json"))
	}
	r.model, r.noMotion = ev.Mean, nm.Mean
	train, err := snapshot.Load(filepath.Join(dir, "train.npz"), snapshot.LoadOptions{})
	if err != nil {
		return r, err
	}
	test, err := snapshot.Load(filepath.Join(dir, "test.npz"), snapshot.LoadOptions{})
	if err != nil {
		return r, err
	}
	r.floor, err = samplingFloor(train, test)
	return r, err
}

// samplingFloor is the mean over the target days (every day but the first)
// of W1(held-out cells, training cells): what a perfect prediction of the
// held-out cells scores against the training cells' day.
func samplingFloor(train, test *snapshot.Set) (float64, error) {
	trainDays := map[float64][]float64{}
	for _, s := range train.Snapshots() {
		trainDays[s.Time] = s.X
	}
	days := test.Snapshots()[1:]
	sum := 0.0
	for _, s := range days {
		tr, ok := trainDays[s.Time]
		if !ok {
			return 0, fmt.Errorf("no training cells at t=%v", s.Time)
		}
		w, err := ot.W1(s.X, tr, test.D)
		if err != nil {
			return 0, fmt.Errorf("t=%v: %w", s.Time, err)
		}
		sum += w
	}
	return sum / float64(len(days)), nil
}

func meanStd(runs []seedRun, f func(seedRun) float64) (mean, std float64) {
	for _, r := range runs {
		mean += f(r) / float64(len(runs))
	}
	for _, r := range runs {
		std += (f(r) - mean) * (f(r) - mean) / float64(len(runs))
	}
	return mean, math.Sqrt(std)
}
