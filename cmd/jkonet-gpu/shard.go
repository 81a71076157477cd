package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// Sharded preprocessing (README "Clusters"): `preprocess --shard i/n`
// computes the transitions k ≡ i (mod n) into a shard file, one job-array
// task each; `preprocess --merge` stacks the shards into the couplings an
// unsharded run writes, bit for bit (package couplings, Shard and Merge).

var (
	shardFlag = &cli.StringFlag{Name: "shard", Usage: "compute only shard i/n, the transitions k with k mod n = i, into --out for --merge; " +
		"auto: this job-array task's shard: SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of " + launch.WorldSizeVar}
	mergeFlag = &cli.BoolFlag{Name: "merge", Usage: "merge the shard files (the arguments; --out before or after them) into --out, the couplings of an unsharded run " +
		"(the shards' options are used; with --data, also check that the shards were computed from it)"}
	// preprocessDataFlag is --data, which --merge does not need;
	// preprocessOutFlag is --out, which --merge may take after the shards.
	preprocessDataFlag = func() *cli.StringFlag { f := *dataFlag; f.Required = false; return &f }()
	preprocessOutFlag  = func() *cli.StringFlag { f := *outFlag; f.Required = false; return &f }()
)

// shardOf reads --shard: i/n, or auto from the job array in env; ok is false
// without --shard.
func shardOf(c *cli.Context, env func(string) (string, bool)) (s couplings.Shard, ok bool, err error) {
	value := c.String("shard")
	switch {
	case !c.IsSet("shard"):
		return s, false, nil
	case value != "auto":
		s, err = couplings.ParseShard(value)
		return s, err == nil, err
	}
	task, ok, err := launch.ArrayTaskFromEnv(env)
	if err != nil {
		return s, false, fmt.Errorf("--shard auto: %w", err)
	}
	if !ok {
		return s, false, fmt.Errorf("--shard auto: no job array in the environment (SLURM_ARRAY_TASK_ID, or JOB_COMPLETION_INDEX with %s); pass --shard i/n", launch.WorldSizeVar)
	}
	return couplings.Shard{Index: task.Index, Count: task.Count}, true, nil
}

// mergeShards is preprocess --merge: the shard files (the arguments) merged
// into --out.
func mergeShards(c *cli.Context) error {
	if c.IsSet("shard") {
		return fmt.Errorf("--shard and --merge are separate steps: %s", mergeUsage)
	}
	shards, out, err := mergeArgs(c)
	if err != nil {
		return err
	}
	inputs := named(c, "data")
	for _, s := range shards {
		inputs = append(inputs, atomicfile.Named{Flag: "shard file", Path: s})
	}
	if err := atomicfile.CheckOutputs([]atomicfile.Named{{Flag: "--out", Path: out}}, inputs...); err != nil {
		return err
	}
	var parts []*couplings.Part
	for _, path := range shards {
		p, err := couplings.LoadShard(path)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	merged, err := couplings.Merge(parts)
	if err != nil {
		return err
	}
	if c.String("data") != "" {
		set, err := loadData(c)
		if err != nil {
			return err
		}
		if err := merged.Provenance.Mismatch(&couplings.Provenance{Data: set.Hash(), Options: merged.Provenance.Options}); err != nil {
			return fmt.Errorf("%s: the shards were %w", c.String("data"), err)
		}
	}
	if err := merged.Save(out); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s: %d shards, %d transitions, %d pairs\n", out, len(parts), len(merged.Times)-1, merged.Len())
	}
	return nil
}

const mergeUsage = "preprocess --merge [--data DATA] --out couplings.npz SHARD... (or SHARD... --out couplings.npz)"

// mergeArgs splits preprocess --merge's arguments into the shard files and
// --out. The flag parser stops at the first file, so `--merge SHARD... --out
// FILE`, the order the docs of job arrays suggest, leaves --out among the
// files; it is taken from there. Any other flag after the files is refused.
func mergeArgs(c *cli.Context) (shards []string, out string, err error) {
	out = c.String("out")
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value, isOut := strings.CutPrefix(arg, "--out=")
		if arg == "--out" && i+1 < len(args) {
			value, isOut = args[i+1], true
			i++
		}
		switch {
		case isOut && out != "":
			return nil, "", fmt.Errorf("--merge: --out given twice (%s and %s)", out, value)
		case isOut:
			out = value
		case strings.HasPrefix(arg, "-"):
			return nil, "", fmt.Errorf("--merge: %q after the shard files: only --out may follow them; %s", arg, mergeUsage)
		default:
			shards = append(shards, arg)
		}
	}
	switch {
	case len(shards) == 0:
		return nil, "", fmt.Errorf("--merge: no shard files; %s", mergeUsage)
	case out == "":
		return nil, "", fmt.Errorf("--merge: no --out file; %s", mergeUsage)
	}
	return shards, out, nil
}

// checkPreprocessArgs checks what every preprocess but --merge needs: --data
// (which its Required cannot say), and no arguments.
func checkPreprocessArgs(c *cli.Context) error {
	if c.String("data") == "" {
		return fmt.Errorf("preprocess: --data is required (except with --merge)")
	}
	if c.String("out") == "" {
		return fmt.Errorf(`preprocess: --out is required`)
	}
	if c.NArg() > 0 {
		return fmt.Errorf("preprocess: unexpected argument %q (files to merge go with --merge, after the flags)", c.Args().First())
	}
	return nil
}
