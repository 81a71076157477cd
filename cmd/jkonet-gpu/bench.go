package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/bench"
)

var benchCommand = &cli.Command{
	Name:  "bench",
	Usage: "time jkonet-gpu's solvers and training step side by side with their peers (POT, scikit-learn, PyTorch)",
	Description: `Runs each comparison in one process on the same machine, alternating Go and peer runs,
   and prints median times and their ratio (below 1: jkonet-gpu is faster). Peers are Debian's
   python3-pot, python3-sklearn and python3-torch (make peers); missing peers are skipped.
   The training step runs PyTorch with as many threads as Go has workers (GOMAXPROCS; set
   GOMAXPROCS=1 to compare one core); on a busy machine PyTorch's threads stall each other.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "what", Usage: "comma-separated: ot, gmm, train", Value: "ot,gmm,train"},
		&cli.IntSliceFlag{Name: "sizes", Usage: "point counts n (OT: n×n in d = 2 and 5; mixture: n points in d = 5; train: batches of n pairs in d = 2 and 10); default: the spec's sizes"},
		&cli.IntFlag{Name: "repeats", Usage: "timed runs per side (train: rounds of a few steps per side); the median is reported", Value: 5},
	},
	Action: benchAction,
}

func benchAction(c *cli.Context) error {
	what := strings.Split(c.String("what"), ",")
	for _, w := range what {
		if w != "ot" && w != "gmm" && w != "train" {
			return fmt.Errorf("--what: unknown comparison %q (expected ot, gmm, train)", w)
		}
	}
	repeats, sizes := c.Int("repeats"), c.IntSlice("sizes")
	if repeats < 1 {
		return fmt.Errorf("--repeats: expected at least 1, got %d", repeats)
	}
	for _, n := range sizes {
		if n < 2 {
			return fmt.Errorf("--sizes: expected point counts ≥ 2, got %d", n)
		}
	}
	if slices.Contains(what, "ot") {
		cases := bench.DefaultOTCases()
		if len(sizes) > 0 {
			cases = nil
			for _, d := range []int{2, 5} {
				for _, n := range sizes {
					cases = append(cases, bench.OTCase{N: n, M: n, D: d, Seed: 1})
				}
			}
		}
		err := runComparison(c, "exact OT, squared Euclidean cost: jkonet-gpu ot.Exact vs POT ot.emd",
			func() ([]bench.OTResult, error) { return bench.CompareExactOT(cases, repeats) })
		if err != nil {
			return err
		}
	}
	if slices.Contains(what, "gmm") {
		cases := bench.DefaultMixtureCases()
		if len(sizes) > 0 {
			for i := range cases {
				cases[i].N = sizes[0]
			}
		}
		err := runComparison(c, "Gaussian mixture fit: jkonet-gpu density.FitMixture vs scikit-learn GaussianMixture",
			func() ([]bench.MixtureResult, error) { return bench.CompareMixture(cases, repeats) })
		if err != nil {
			return err
		}
	}
	if slices.Contains(what, "train") {
		cases := bench.DefaultStepCases()
		if len(sizes) > 0 {
			cases = bench.StepCases(sizes)
		}
		err := runComparison(c, "jkonet-star training step: jkonet-gpu cpu backend vs PyTorch (CPU, float64, same threads)",
			func() ([]bench.StepResult, error) { return bench.CompareTrainingStep(cases, repeats) })
		if err != nil {
			return err
		}
	}
	return nil
}

// runComparison prints the title, runs the comparison and prints its
// results one row each; a missing peer becomes a note, other errors stand.
func runComparison[R fmt.Stringer](c *cli.Context, title string, compare func() ([]R, error)) error {
	w := c.App.Writer
	fmt.Fprintln(w, title)
	results, err := compare()
	if errors.Is(err, bench.ErrNoPeer) {
		fmt.Fprintf(w, "  skipped: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintln(w, "  "+r.String())
	}
	return nil
}
