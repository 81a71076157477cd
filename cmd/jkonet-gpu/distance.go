package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

var distanceCommand = &cli.Command{
	Name:  "distance",
	Usage: "exact Wasserstein distance W_p between the points of two files",
	Description: `Uses every row of x in each file (all times), uniform weights. W1 has Euclidean cost;
   W2 has squared Euclidean cost and is reported as the distance (the square root).`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "a", Usage: "first point set (.npz or .csv)", Required: true},
		&cli.StringFlag{Name: "b", Usage: "second point set (.npz or .csv)", Required: true},
		&cli.IntFlag{Name: "p", Usage: "1 or 2", Value: 1},
		timeColFlag, jsonFlag,
	},
	Action: distance,
}

func distance(c *cli.Context) error {
	p := c.Int("p")
	if p != 1 && p != 2 {
		return fmt.Errorf("--p: expected 1 or 2, got %d", p)
	}
	var sets [2]*snapshot.Set
	for i, name := range []string{"a", "b"} {
		s, err := snapshot.Load(c.String(name), snapshot.LoadOptions{TimeCol: c.String("time-col")})
		if err != nil {
			return err
		}
		sets[i] = s
	}
	if err := sameSpace(c, &sets); err != nil {
		return err
	}
	wp := ot.W1
	if p == 2 {
		wp = ot.W2
	}
	start := time.Now()
	dist, err := wp(sets[0].X, sets[1].X, sets[0].D)
	if err != nil {
		return err
	}
	seconds := time.Since(start).Seconds()
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(struct {
			P        int     `json:"p"`
			Distance float64 `json:"distance"`
			Seconds  float64 `json:"seconds"`
		}{p, dist, seconds})
	}
	fmt.Fprintf(c.App.Writer, "W%d = %.10g (%d × %d points, %.3f s)\n", p, dist, sets[0].Len(), sets[1].Len(), seconds)
	return nil
}

// sameSpace puts the two sets in one space: when one records a transform
// (predict's output, a prepared file) and the other holds raw cells, the
// raw cells are mapped with it (one note says so); sets that record
// different transforms, or whose dimensions differ, are refused in one line
// that names the transform.
func sameSpace(c *cli.Context, sets *[2]*snapshot.Set) error {
	names := [2]string{c.String("a"), c.String("b")}
	var ts [2]*cells.Transform
	for i, s := range sets {
		t, err := cells.Recorded(names[i], s)
		if err != nil {
			return err
		}
		ts[i] = t
	}
	for i := range 2 {
		j := 1 - i
		if ts[i] != nil && ts[j] == nil && sets[j].D == ts[i].InputDim {
			mapped, err := ts[i].Apply(sets[j])
			if err != nil {
				return fmt.Errorf("%s: %w", names[j], err)
			}
			sets[j] = mapped
			fmt.Fprintf(c.App.ErrWriter, "note: %s is mapped with the transform %s records (%s) before measuring\n", names[j], names[i], ts[i].Options())
			return nil
		}
	}
	switch {
	case ts[0] != nil && ts[1] != nil && !cells.Equal(ts[0], ts[1]):
		return fmt.Errorf("%s and %s record different transforms (%s and %s); compare points in one space", names[0], names[1], ts[0].Options(), ts[1].Options())
	case sets[0].D != sets[1].D:
		for i := range 2 {
			if ts[i] != nil {
				return fmt.Errorf("%s has d = %d but %s has d = %d: %s is in the coordinates of its transform (%s, for input d = %d)", names[0], sets[0].D, names[1], sets[1].D, names[i], ts[i].Options(), ts[i].InputDim)
			}
		}
		return fmt.Errorf("%s has d = %d but %s has d = %d", names[0], sets[0].D, names[1], sets[1].D)
	}
	return nil
}
