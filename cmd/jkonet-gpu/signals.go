package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// addSignals makes SIGINT and SIGTERM (what a scheduler sends before it
// kills a job) end every command but train with one line on stderr instead
// of a silent death by signal: outputs are written to temporary files and
// renamed, so an interrupted command leaves its outputs as they were (a
// temporary file cut short is removed by the next write of that output).
// train handles the signals itself: it checkpoints.
func addSignals(cmds []*cli.Command) {
	const stopSignals = "jkonet-gpu stop signals"
	for _, cmd := range cmds {
		if cmd.Name == "train" || cmd.Name == "version" {
			continue
		}
		before, after := cmd.Before, cmd.After
		cmd.Before = func(c *cli.Context) error {
			sigs := make(chan os.Signal, 1)
			done := make(chan struct{})
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			go func() {
				select {
				case s := <-sigs:
					fmt.Fprintf(c.App.ErrWriter, "jkonet-gpu: %s: interrupted (%v); its outputs are left as they were\n", c.Command.FullName(), s)
					os.Exit(1)
				case <-done:
				}
			}()
			// Per run (the App is), not per command: tests run commands
			// in parallel in one process.
			if c.App.Metadata == nil {
				c.App.Metadata = map[string]any{}
			}
			c.App.Metadata[stopSignals] = func() { signal.Stop(sigs); close(done) }
			if before != nil {
				return before(c)
			}
			return nil
		}
		cmd.After = func(c *cli.Context) error {
			if stop, ok := c.App.Metadata[stopSignals].(func()); ok {
				delete(c.App.Metadata, stopSignals)
				stop()
			}
			if after != nil {
				return after(c)
			}
			return nil
		}
	}
}
