// Command jkonet-gpu learns the energy driving a population of particles from
// unpaired snapshots (JKOnet*). See README.md and docs/design.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	_ "github.com/jkonet-gpu/jkonet-gpu/engine/cuda" // registers --device cuda
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit status: errors are printed as one
// line on stderr, never as a stack trace (an *engine.ReportedError was
// printed already).
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "jkonet-gpu: internal error: %v (please report this with the command line)\n", r)
			status = 2
		}
	}()
	if err := newApp(stdout, stderr).Run(args); err != nil {
		if rep := (*engine.ReportedError)(nil); !errors.As(err, &rep) {
			fmt.Fprintf(stderr, "jkonet-gpu: %s\n", boundedLine(err.Error()))
		}
		return 1
	}
	return 0
}
