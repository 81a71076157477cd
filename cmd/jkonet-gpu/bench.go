package main

import (
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
		&cli.StringFlag{Name: "what", Usage: "comma-separated: ot, ot-scale (exact OT once at 10^5 points, certified, with its time and peak memory; not by default), gmm, train, gpu", Value: "ot,gmm,train"},
		&cli.IntSliceFlag{Name: "sizes", Usage: "point counts n (OT: n×n, n×3n/2 and n×(n+1) in each of --dims; ot-scale: the same, default 100000; mixture: n points in d = 5; train: batches of n pairs in d = 2 and 10; gpu: epochs of n pairs); default: the spec's sizes"},
		&cli.StringFlag{Name: "shapes", Usage: "ot and ot-scale: comma-separated shapes of each size n: equal (n×n), unequal (n×3n/2), coprime (n×(n+1)); default: all three for ot, equal for ot-scale"},
		&cli.IntFlag{Name: "block", Usage: "ot-scale: also solve each case in spatial blocks of at most this many points and print the cost they add to the exact plan (0: not)", Value: 10000},
		&cli.IntFlag{Name: "repeats", Usage: "timed runs per side (train, gpu: rounds of a few steps per side); the median is reported", Value: 5},
		&cli.IntSliceFlag{Name: "dims", Usage: "gpu and ot with --sizes: dimensions d (default 2, 5, 50); ot-scale: default 5"},
		&cli.IntSliceFlag{Name: "targets", Usage: "gpu: target populations of the exact interaction mean (default 1000, 10000)"},
		&cli.Float64Flag{Name: "seconds", Usage: "gpu: time budget per case and device (at least one step)", Value: 1},
		&cli.StringFlag{Name: "json", Usage: "gpu: also write the results as JSON to this file"},
		deviceFlag,
	},
	Action: benchAction,
}

func benchAction(c *cli.Context) error {
	o := bench.Options{
		What: strings.Split(c.String("what"), ","), Sizes: c.IntSlice("sizes"), Repeats: c.Int("repeats"),
		Seconds: c.Float64("seconds"), Device: c.String("device"), JSON: c.String("json"), Block: c.Int("block"),
	}
	if c.IsSet("shapes") {
		o.Shapes = strings.Split(c.String("shapes"), ",")
	}
	if c.IsSet("dims") {
		o.Dims = c.IntSlice("dims")
	}
	if c.IsSet("targets") {
		o.Targets = c.IntSlice("targets")
	}
	return bench.Run(c.App.Writer, o)
}
