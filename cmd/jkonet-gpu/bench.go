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
	Usage: "time jkonet-gpu's solvers side by side with their peers (POT, scikit-learn, PyTorch)",
	Description: `Runs each comparison in one process on the same machine, alternating Go and peer runs,
   and prints median times and their ratio (below 1: jkonet-gpu is faster). Peers are Debian's
   python3-pot, python3-sklearn and python3-torch (make peers); missing peers are skipped.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "what", Usage: "comma-separated: ot, gmm", Value: "ot,gmm"},
		&cli.IntSliceFlag{Name: "sizes", Usage: "point counts n (OT: n×n in d = 2 and 5; mixture: n points in d = 5); default: the spec's sizes"},
		&cli.IntFlag{Name: "repeats", Usage: "timed runs per side (the median is reported)", Value: 5},
	},
	Action: benchAction,
}

func benchAction(c *cli.Context) error {
	what := strings.Split(c.String("what"), ",")
	for _, w := range what {
		if w != "ot" && w != "gmm" {
			return fmt.Errorf("--what: unknown comparison %q (expected ot, gmm)", w)
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
	w := c.App.Writer
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
		fmt.Fprintln(w, "exact OT, squared Euclidean cost: jkonet-gpu ot.Exact vs POT ot.emd")
		res, err := bench.CompareExactOT(cases, repeats)
		if err := skipMissingPeer(c, err); err != nil {
			return err
		}
		for _, r := range res {
			fmt.Fprintln(w, "  "+r.String())
		}
	}
	if slices.Contains(what, "gmm") {
		cases := bench.DefaultMixtureCases()
		if len(sizes) > 0 {
			for i := range cases {
				cases[i].N = sizes[0]
			}
		}
		fmt.Fprintln(w, "Gaussian mixture fit: jkonet-gpu density.FitMixture vs scikit-learn GaussianMixture")
		res, err := bench.CompareMixture(cases, repeats)
		if err := skipMissingPeer(c, err); err != nil {
			return err
		}
		for _, r := range res {
			fmt.Fprintln(w, "  "+r.String())
		}
	}
	return nil
}

// skipMissingPeer turns a missing peer into a note; other errors stand.
func skipMissingPeer(c *cli.Context, err error) error {
	if errors.Is(err, bench.ErrNoPeer) {
		fmt.Fprintf(c.App.Writer, "  skipped: %v\n", err)
		return nil
	}
	return err
}
