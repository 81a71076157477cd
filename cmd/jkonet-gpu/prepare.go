package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

var prepareCommand = &cli.Command{
	Name:  "prepare",
	Usage: "read cells once (h5ad, real times), transform them, and write them as NPZ",
	Description: `Reads --data with the cell flags (--time-key, --time-values, --obsm, --layer), fits
   --dims, --pca and --standardize on these cells and writes the transformed cells with
   the transform recorded in the NPZ's meta, so later commands on the file do not
   transform again and a model trained on it maps raw cells the same way. With
   --transform-from FILE (a prepared .npz or a model file) the transform recorded there
   is applied instead of fitting one: prepare the training cells, then the test cells
   --transform-from the training file. Without transform flags it converts the cells as
   they are (e.g. h5ad to NPZ).`,
	Flags: slices.Concat([]cli.Flag{
		dataFlag, timeColFlag, outFlag,
		&cli.StringFlag{Name: "transform-from", Usage: "apply the transform recorded in this prepared .npz or model file instead of fitting one"},
		quietFlag,
	}, cellFlags, transformFlags),
	Action: prepare,
}

func prepare(c *cli.Context) error {
	out := c.String("out")
	if err := checkOutputs(c, []string{"out"}, "data", "transform-from"); err != nil {
		return err
	}
	var set *snapshot.Set
	var err error
	if from := c.String("transform-from"); from != "" {
		set, err = readWithTransformOf(c, from)
	} else {
		set, err = loadData(c)
	}
	if err != nil {
		return err
	}
	if err := set.Save(out); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		inf := set.Info()
		fmt.Fprintf(c.App.Writer, "wrote %s: %d cells, d = %d, %d snapshots\n", out, inf.Rows, inf.Dim, len(inf.Times))
		if t, err := cells.FromMeta(set.Meta); err == nil && t != nil {
			fmt.Fprintf(c.App.Writer, "  transform: %s\n", t.Summary())
		}
	}
	return nil
}

// readWithTransformOf reads --data and maps it with the transform recorded
// in from: the meta of a prepared NPZ, or a model's training record.
func readWithTransformOf(c *cli.Context, from string) (*snapshot.Set, error) {
	var t *cells.Transform
	if strings.EqualFold(filepath.Ext(from), ".npz") {
		prepared, err := snapshot.Load(from, snapshot.LoadOptions{})
		if err != nil {
			return nil, err
		}
		if t, err = recordedTransform(from, prepared); err != nil {
			return nil, err
		}
		if t == nil {
			return nil, fmt.Errorf(`%s: field "meta": records no transform (not written by prepare with --dims, --pca or --standardize)`, from)
		}
	} else {
		f, err := modelfile.Load(from)
		if err != nil {
			return nil, err
		}
		if t, err = modelTransform(from, f); err != nil {
			return nil, err
		}
	}
	set, err := readCells(c)
	if err != nil {
		return nil, err
	}
	return mapRecorded(c, set, from, t)
}
