package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

var preprocessCommand = &cli.Command{
	Name:      "preprocess",
	Usage:     "compute the OT couplings and density scores that training uses",
	ArgsUsage: "[SHARD... (with --merge)]",
	Description: `For every pair of consecutive snapshot times, couple the two snapshots by optimal
   transport (squared Euclidean cost, uniform weights) and keep the pairs that carry the
   plan's mass; fit a Gaussian mixture to each target snapshot and evaluate the score
   ∇log ρ at the coupled targets. Writes x, y, w, k, tau, score and times (NPZ).

   Exact OT solves a transition whole while its larger snapshot has at most --exact-max
   points, and in spatial blocks of at most that many above, with a note: line. auto, the
   default, is ` + fmt.Sprint(couplings.DefaultExactMax(couplings.TreeMaxDim)) + ` points in d ≤ ` + fmt.Sprint(couplings.TreeMaxDim) + `, where the exact solvers search k-d trees,
   and ` + fmt.Sprint(couplings.DefaultExactMax(couplings.TreeMaxDim+1)) + ` above: the most that stays within a few minutes on 2 cores at any shape.
   Blocks cost more than the exact plan: at 10^5 × 10^5 uniform points in d = 5, 2 blocks
   of 5·10^4 added 2.0%, 10 blocks of 10^4 7.5% (README "Scale"; bench --what ot-scale
   prints the gap).

   On a cluster, --shard i/n (or auto, in a job array) computes the transitions k with
   k mod n = i into a shard file, and preprocess --merge --out couplings.npz SHARD...
   stacks the shards into the file an unsharded run writes (README "Clusters").`,
	Flags:  slices.Concat([]cli.Flag{preprocessDataFlag, timeColFlag, preprocessOutFlag, seedFlag, jsonFlag, quietFlag, shardFlag, mergeFlag}, couplingFlags, cellFlags, transformFlags),
	Action: preprocess,
}

func preprocess(c *cli.Context) error {
	if c.Bool("merge") {
		return mergeShards(c)
	}
	if err := checkPreprocessArgs(c); err != nil {
		return err
	}
	shard, sharded, err := shardOf(c, os.LookupEnv)
	if err != nil {
		return err
	}
	set, err := loadDataFor(c)
	if err != nil {
		return err
	}
	req, err := couplingRequest(c)
	if err != nil {
		return err
	}
	out, what := c.String("out"), ""
	var cp *couplings.Couplings
	var rep *couplings.Report
	if sharded {
		what = fmt.Sprintf("shard %s of the transitions, ", shard)
		if cp, rep, err = req.ComputeShard(set, shard); err == nil {
			err = cp.SaveShard(out, shard)
		}
	} else if cp, rep, err = req.Compute(set); err == nil {
		err = cp.Save(out)
	}
	if err != nil {
		return err
	}
	rep.Warn(c.App.ErrWriter)
	return printPreprocess(c, rep, fmt.Sprintf("wrote %s: %s%d pairs\n", out, what, cp.Len()))
}

// printPreprocess prints preprocess's report (--json: as JSON), ending
// with wrote.
func printPreprocess(c *cli.Context, rep *couplings.Report, wrote string) error {
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if c.Bool("quiet") {
		return nil
	}
	for _, t := range rep.Transitions {
		fmt.Fprintf(w, "t=%g → t=%g: %d × %d points, %d pairs, cost %.6g, %.3f s", t.From, t.To, t.N, t.M, t.Pairs, t.Cost, t.Seconds)
		if t.Blocks > 1 {
			fmt.Fprintf(w, ", %d %s blocks of ≤ %d", t.Blocks, t.BlockOrder, t.Block)
		}
		if t.Converged != nil {
			fmt.Fprintf(w, ", sinkhorn ε %.3g, %d iterations, marginal error %.2g", t.Epsilon, t.Iterations, t.MarginalError)
		}
		fmt.Fprintln(w)
	}
	for _, s := range rep.Snapshots {
		fmt.Fprintf(w, "density t=%g: %d points, %d components kept, mean log-likelihood %.4f, %.3f s\n", s.Time, s.Points, s.Components, s.LogLikelihood, s.Seconds)
	}
	fmt.Fprint(w, wrote)
	return nil
}

// couplingFlags configure the coupling precomputation (preprocess, and
// train when it computes the couplings itself); their defaults are
// couplings.DefaultOptions.
var couplingFlags = func() []cli.Flag {
	def := couplings.DefaultOptions()
	return []cli.Flag{
		&cli.StringFlag{Name: "coupling", Usage: "exact, sinkhorn, or ids (pair the rows that share a trajectory id: tracked data)", Value: def.Method},
		&cli.IntFlag{Name: "ot-block", Usage: "solve blocks of this many particles (0: whole snapshots, or automatic blocks above --exact-max)", Value: def.Block},
		&cli.StringFlag{Name: "ot-block-order", Usage: "index (blocks of consecutive rows), spatial (matching cells of a k-d partition of both snapshots) or random (blocks of a permutation seeded by --seed)", Value: def.BlockOrder},
		&cli.StringFlag{Name: "exact-max", Usage: fmt.Sprintf("exact OT on snapshots above this many points uses spatial blocks of at most this many (0: never); auto: %d in d ≤ %d, where the exact solvers search k-d trees, %d above (each the most that stays within a few minutes on 2 cores at any shape; README \"Scale\")", couplings.DefaultExactMax(1), couplings.TreeMaxDim, couplings.DefaultExactMax(couplings.TreeMaxDim+1)), Value: "auto"},
		&cli.Float64Flag{Name: "epsilon", Usage: "sinkhorn: entropic regularisation, relative to the mean cost", Value: def.Epsilon},
		&cli.BoolFlag{Name: "epsilon-absolute", Usage: "sinkhorn: --epsilon is absolute, not relative to the mean cost", Value: def.EpsilonAbsolute},
		&cli.Float64Flag{Name: "sinkhorn-tol", Usage: "sinkhorn: stop when the marginal error is below this", Value: def.Tol},
		&cli.IntFlag{Name: "sinkhorn-max-iter", Usage: "sinkhorn: iteration cap", Value: def.MaxIter},
		&cli.IntFlag{Name: "components", Usage: "Gaussian mixture components per snapshot", Value: def.Components},
	}
}()

func couplingOptions(c *cli.Context) (couplings.Options, error) {
	exactMax := couplings.ExactMaxAuto
	if s := c.String("exact-max"); s != "auto" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return couplings.Options{}, fmt.Errorf("--exact-max: expected auto or a number of points ≥ 0 (0: never block on its own), got %q", s)
		}
		exactMax = n
	}
	return couplings.Options{
		Method: c.String("coupling"), Block: c.Int("ot-block"), BlockOrder: c.String("ot-block-order"), ExactMax: exactMax,
		Epsilon: c.Float64("epsilon"), EpsilonAbsolute: c.Bool("epsilon-absolute"),
		Tol: c.Float64("sinkhorn-tol"), MaxIter: c.Int("sinkhorn-max-iter"),
		Components: c.Int("components"), Seed: c.Uint64("seed"),
	}, nil
}

// couplingRequest is preprocess's couplings.Request: the coupling flags,
// --data, --quiet and stderr. (train builds its own in engine.Run from the
// same couplingOptions.)
func couplingRequest(c *cli.Context) (couplings.Request, error) {
	opts, err := couplingOptions(c)
	return couplings.Request{Data: c.String("data"), Options: opts, Quiet: c.Bool("quiet"), Warnings: c.App.ErrWriter}, err
}
