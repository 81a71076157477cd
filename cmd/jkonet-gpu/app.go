package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// version is set at build time by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "jkonet-gpu",
		Usage:   "learn the energy driving a particle population from unpaired snapshots (JKOnet*)",
		Version: version,
		Commands: []*cli.Command{
			generateCommand,
			splitCommand,
			infoCommand,
			prepareCommand,
			distanceCommand,
			preprocessCommand,
			trainCommand,
			predictCommand,
			evalCommand,
			plotCommand,
			benchCommand,
			versionCommand,
		},
		Writer:         stdout,
		ErrWriter:      stderr,
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // main prints errors itself
	}
}

// usageError turns urfave/cli's usage errors (unknown flag, bad value) into one
// line instead of the full help text.
func usageError(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%s: %w (see --help)", c.Command.FullName(), err)
}

var versionCommand = &cli.Command{
	Name:  "version",
	Usage: "print the version",
	Action: func(c *cli.Context) error {
		fmt.Fprintf(c.App.Writer, "jkonet-gpu %s\n", version)
		return nil
	},
}
