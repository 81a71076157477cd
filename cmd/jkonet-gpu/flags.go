package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/atomicfile"
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/zoo"
)

// Flags shared by several commands are declared once here.
var (
	dataFlag        = &cli.StringFlag{Name: "data", Usage: "snapshot file (.npz or .csv)", Required: true}
	outFlag         = &cli.StringFlag{Name: "out", Usage: "output file", Required: true}
	seedFlag        = &cli.Uint64Flag{Name: "seed", Usage: "random seed", Value: 0}
	quietFlag       = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"}
	jsonFlag        = &cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}
	timeColFlag     = &cli.StringFlag{Name: "time-col", Usage: "CSV input: name of the time column", Value: "t"}
	potentialFlag   = &cli.StringFlag{Name: "potential", Usage: "zoo potential V (one of: " + zooList + ")", Required: true}
	interactionFlag = &cli.StringFlag{Name: "interaction", Usage: "zoo interaction kernel W (default none)"}
	betaFlag        = &cli.Float64Flag{Name: "beta", Usage: "diffusion coefficient β ≥ 0", Value: 0}
	dtFlag          = &cli.Float64Flag{Name: "dt", Usage: "time step of the simulation", Value: 0.01}
	deviceFlag      = &cli.StringFlag{Name: "device", Usage: "where to train: " + strings.Join(append([]string{"auto"}, engine.Backends()...), ", ") + " (auto: CUDA when a GPU answers, else the CPU)", Value: "auto"}
	precisionFlag   = &cli.StringFlag{Name: "precision", Usage: "float32 or float64 (default: float32 on a GPU; the CPU computes in float64)"}
)

// zooList names the zoo functions for flag help.
var zooList = strings.Join(zoo.Names(), ", ")

// loadData reads the snapshot file named by --data.
func loadData(c *cli.Context) (*snapshot.Set, error) {
	return snapshot.Load(c.String("data"), snapshot.LoadOptions{TimeCol: c.String("time-col")})
}

// loadDataFor checks that --out can be written before any long work, then
// reads --data.
func loadDataFor(c *cli.Context) (*snapshot.Set, error) {
	if err := atomicfile.CheckWritable(c.String("out")); err != nil {
		return nil, err
	}
	return loadData(c)
}
