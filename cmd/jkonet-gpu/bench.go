package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/bench"
	"github.com/jkonet-gpu/jkonet-gpu/engine/cuda"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
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
		&cli.StringFlag{Name: "what", Usage: "comma-separated: ot, gmm, train, gpu", Value: "ot,gmm,train"},
		&cli.IntSliceFlag{Name: "sizes", Usage: "point counts n (OT: n×n in d = 2 and 5; mixture: n points in d = 5; train: batches of n pairs in d = 2 and 10; gpu: epochs of n pairs); default: the spec's sizes"},
		&cli.IntFlag{Name: "repeats", Usage: "timed runs per side (train, gpu: rounds of a few steps per side); the median is reported", Value: 5},
		&cli.IntSliceFlag{Name: "dims", Usage: "gpu: dimensions d (default 2, 5, 50)"},
		&cli.IntSliceFlag{Name: "targets", Usage: "gpu: target populations of the exact interaction mean (default 1000, 10000)"},
		&cli.Float64Flag{Name: "seconds", Usage: "gpu: time budget per case and device (at least one step)", Value: 1},
		&cli.StringFlag{Name: "json", Usage: "gpu: also write the results as JSON to this file"},
		deviceFlag,
	},
	Action: benchAction,
}

func benchAction(c *cli.Context) error {
	what := strings.Split(c.String("what"), ",")
	for _, w := range what {
		if w != "ot" && w != "gmm" && w != "train" && w != "gpu" {
			return fmt.Errorf("--what: unknown comparison %q (expected ot, gmm, train, gpu)", w)
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
	if slices.Contains(what, "gpu") {
		if err := benchGPU(c); err != nil {
			return err
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

// benchGPU runs the CPU-vs-GPU table (the CPU half alone without a GPU).
func benchGPU(c *cli.Context) error {
	pairs, dims, targets := bench.DefaultGPUPairs, bench.DefaultGPUDims, bench.DefaultGPUTargets
	for _, f := range []struct {
		name string
		dst  *[]int
	}{{"sizes", &pairs}, {"dims", &dims}, {"targets", &targets}} {
		if c.IsSet(f.name) {
			*f.dst = c.IntSlice(f.name)
			for _, v := range *f.dst {
				if v < 1 {
					return fmt.Errorf("--%s: expected positive values, got %d", f.name, v)
				}
			}
		}
	}
	seconds := c.Float64("seconds")
	if !(seconds >= 0) || seconds > 3600 {
		return fmt.Errorf("--seconds: expected a budget from 0 to 3600 s, got %v", seconds)
	}
	if path := c.String("json"); path != "" {
		if err := atomicfile.CheckWritable(path); err != nil {
			return err
		}
	}
	opts := bench.GPUOptions{Budget: time.Duration(seconds * float64(time.Second)), Repeats: c.Int("repeats")}
	var noGPU string
	switch device := c.String("device"); device {
	case "auto", "cuda":
		dev, err := cuda.DefaultDevice()
		if err != nil && device == "cuda" {
			return fmt.Errorf("--device cuda: %w", err)
		}
		if err != nil {
			noGPU = err.Error()
		}
		opts.Device = dev
	case "cpu":
		noGPU = "--device cpu"
	default:
		return fmt.Errorf("--device: bench --what gpu takes auto, cuda or cpu, got %q", device)
	}
	rep, err := bench.CompareGPU(bench.GPUCases(pairs, dims, targets), opts)
	if err != nil {
		return err
	}
	rep.NoGPU = noGPU
	fmt.Fprintln(c.App.Writer, "CPU vs GPU: JKOnet* training epochs, jkonet-gpu cpu backend vs cuda backend")
	for _, line := range rep.Lines() {
		fmt.Fprintln(c.App.Writer, "  "+line)
	}
	if path := c.String("json"); path != "" {
		return atomicfile.Write(path, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		})
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
