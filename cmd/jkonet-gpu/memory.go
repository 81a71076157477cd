package main

import (
	"fmt"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/urfave/cli/v2"
)

// maxMemoryFlag sets the memory budget every reader checks before it
// allocates (package membudget): by default half of what the machine
// leaves free (MemAvailable, the cgroup's limit, RLIMIT_AS).
var maxMemoryFlag = &cli.StringFlag{
	Name:  "max-memory",
	Usage: "the most memory reading an input may take, e.g. 4G or 512MiB (default: half of the free memory or of what the cgroup leaves, a quarter of what ulimit -v leaves; also " + membudget.Env + ")",
}

// addMaxMemory gives every command but version the --max-memory flag, set
// (or unset, so one in-process run does not leak into the next) before the
// command runs, and sends the model files' warnings to its stderr.
func addMaxMemory(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if cmd.Name == "version" {
			continue
		}
		cmd.Flags = append(cmd.Flags, maxMemoryFlag)
		before := cmd.Before
		cmd.Before = func(c *cli.Context) error {
			n := int64(0)
			if s := c.String("max-memory"); c.IsSet("max-memory") {
				var err error
				if n, err = membudget.Parse(s); err != nil {
					return fmt.Errorf("%s: --max-memory: %v", c.Command.FullName(), err)
				}
			}
			membudget.Set(n)
			// A model file read with a doubt (no checksum, version 1)
			// says so on stderr.
			modelfile.Warn = func(s string) { fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", s) }
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
}
