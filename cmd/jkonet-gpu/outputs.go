package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
)

// checkOutputs refuses, before any work, output flags that cannot be
// written or that name one of the input flags' files or each other
// (atomicfile.CheckOutputs): an output never replaces an input.
func checkOutputs(c *cli.Context, outputs []string, inputs ...string) error {
	return atomicfile.CheckOutputs(named(c, outputs...), named(c, inputs...)...)
}

// named pairs each flag with its value (--NAME: the flag's path).
func named(c *cli.Context, flags ...string) []atomicfile.Named {
	var out []atomicfile.Named
	for _, f := range flags {
		out = append(out, atomicfile.Named{Flag: "--" + f, Path: c.String(f)})
	}
	return out
}

// checkTrainOutputs is checkOutputs for train: --out, --checkpoint and
// --log-json (a file), and --couplings where train will write it (it does
// not exist yet), against --data, --couplings where it is read, and
// --resume. The checkpoint may be the --resume file: resuming continues it.
func checkTrainOutputs(c *cli.Context, checkpoint string) error {
	outs := []atomicfile.Named{{Flag: "--out", Path: c.String("out")}, {Flag: "--checkpoint", Path: checkpoint}}
	if log := c.String("log-json"); log != "" && log != "-" {
		outs = append(outs, atomicfile.Named{Flag: "--log-json", Path: log})
	}
	ins := named(c, "data")
	if cp := c.String("couplings"); cp != "" {
		if _, err := os.Stat(cp); err == nil {
			ins = append(ins, named(c, "couplings")...)
		} else {
			outs = append(outs, named(c, "couplings")...)
		}
	}
	if err := atomicfile.CheckOutputs(outs, ins...); err != nil {
		return err
	}
	notCheckpoint := append(outs[:1:1], outs[2:]...)
	return atomicfile.CheckOutputs(notCheckpoint, named(c, "resume")...)
}
