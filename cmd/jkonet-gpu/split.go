package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

var splitCommand = &cli.Command{
	Name:  "split",
	Usage: "split snapshots into a training and a test set",
	Description: `--by trajectory: a random fraction of trajectory ids goes to test at every time
   (the reference protocol; train holds the same particles at every time).
--by population: each snapshot is split independently.
--by independent: each trajectory id is kept in one snapshot only, so no particle
   identity links two snapshots (the honest protocol for unpaired data); each
   snapshot keeps about N/(T+1) particles, so generate more particles for it.
Split writes the cells as read (h5ad: the chosen matrix, times mapped by --time-values, each
   cell's obs name, its barcode, in the NPZ array "names" as a JSON list, the day names in meta),
   untransformed: give --dims, --pca and --standardize to train (or prepare) on the
   training file, so that they are fitted on the training cells only.`,
	Flags: append([]cli.Flag{
		dataFlag, timeColFlag,
		&cli.StringFlag{Name: "by", Usage: "trajectory, population or independent", Value: "trajectory"},
		&cli.Float64Flag{Name: "test-fraction", Usage: "fraction of each snapshot that goes to test", Value: 0.5},
		seedFlag,
		&cli.StringFlag{Name: "train", Usage: "output training set (.npz)", Required: true},
		&cli.StringFlag{Name: "test", Usage: "output test set (.npz)", Required: true},
		quietFlag,
	}, cellFlags...),
	Action: split,
}

func split(c *cli.Context) error {
	trainPath, testPath := c.String("train"), c.String("test")
	if err := checkOutputs(c, []string{"train", "test"}, "data"); err != nil {
		return err
	}
	set, err := readCells(c)
	if err != nil {
		return err
	}
	train, test, err := snapshot.Split(set, c.String("by"), c.Float64("test-fraction"), c.Uint64("seed"))
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	// Both files or neither: a full disk after the first leaves no half result.
	if err := snapshot.SaveAll([]string{trainPath, testPath}, train, test); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "wrote %s (%d rows) and %s (%d rows)\n", trainPath, len(train.T), testPath, len(test.T))
	}
	return nil
}
