package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// version is set at build time by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
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
		Action:         unknownCommand,
	}
	oneLineOnce.Do(func() { addMaxMemory(app.Commands); addSignals(app.Commands); oneLineErrors(app.Commands) })
	return app
}

// oneLineOnce guards oneLineErrors: the commands and their flags are
// package variables, shared by every app.
var oneLineOnce sync.Once

// oneLineErrors makes every usage error of the commands one line: a wrong
// flag or value (usageError), and a missing required flag, which urfave/cli
// would answer with the whole help text, checked in Before instead.
func oneLineErrors(cmds []*cli.Command) {
	required := map[*cli.Command][]string{}
	for _, cmd := range cmds { // first every command's list: flags are shared
		for _, f := range cmd.Flags {
			if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
				required[cmd] = append(required[cmd], f.Names()[0])
			}
		}
	}
	for _, cmd := range cmds {
		cmd.OnUsageError = usageError
		for _, f := range cmd.Flags {
			switch f := f.(type) {
			case *cli.StringFlag:
				f.Required = false
			case *cli.Float64Flag:
				f.Required = false
			case *cli.IntFlag:
				f.Required = false
			case *cli.Uint64Flag:
				f.Required = false
			case *cli.BoolFlag:
				f.Required = false
			}
		}
		if names := required[cmd]; len(names) > 0 {
			checkRequired(cmd, names)
		}
	}
}

// checkRequired refuses, in one line, a run of cmd without the flags named.
func checkRequired(cmd *cli.Command, required []string) {
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		var missing []string
		for _, name := range required {
			if !c.IsSet(name) {
				missing = append(missing, "--"+name)
			}
		}
		if len(missing) > 0 {
			verb := " are"
			if len(missing) == 1 {
				verb = " is"
			}
			return fmt.Errorf("%s: %s%s required (see jkonet-gpu %s --help)", c.Command.FullName(), strings.Join(missing, ", "), verb, c.Command.FullName())
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// usageError turns urfave/cli's usage errors (unknown flag, bad value) into one
// line instead of the full help text, naming the closest flag to a mistyped one.
func usageError(c *cli.Context, err error, _ bool) error {
	name, flags, help := "", c.App.Flags, "jkonet-gpu"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name, flags = c.Command.FullName()+": ", c.Command.Flags
		help += " " + c.Command.FullName()
	}
	if bad, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		hint := ""
		if near := closest(bad, names); near != "" {
			hint = fmt.Sprintf("; did you mean --%s?", near)
		}
		return fmt.Errorf("%sunknown flag --%s%s (see %s --help)", name, bad, hint, help)
	}
	return fmt.Errorf("%s%w (see %s --help)", name, err, help)
}

// unknownCommand is the app's action: with no command it shows the help;
// a word that names no command is one line naming the closest command.
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	bad := c.Args().First()
	var names []string
	for _, cmd := range c.App.Commands {
		names = append(names, cmd.Names()...)
	}
	hint := ""
	if near := closest(bad, names); near != "" {
		hint = fmt.Sprintf("; did you mean %s?", near)
	}
	return fmt.Errorf("unknown command %q%s (see jkonet-gpu --help)", bad, hint)
}

// closest is the name nearest to s by edit distance, if it is near enough
// to be a typo (at most 2 edits, fewer than half of s), or a name that s
// starts or ends; "" otherwise.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := editDistance(s, n)
		if d < bestD && 2*d < len(s)+1 || d < bestD && (strings.HasPrefix(n, s) || strings.HasPrefix(s, n)) && len(s) >= 3 {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, with a swap of two adjacent
// letters counted as one edit (trian → train).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

var versionCommand = &cli.Command{
	Name:  "version",
	Usage: "print the version",
	Action: func(c *cli.Context) error {
		fmt.Fprintf(c.App.Writer, "jkonet-gpu %s\n", version)
		return nil
	},
}
