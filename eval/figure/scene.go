package figure

import (
	"io"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/evaluate"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
)

// Observed is every snapshot of set projected onto the plane (none for a
// nil set), named by its time label where the set records one (D2 (t=2)).
func Observed(set *snapshot.Set, plane Plane) []Points {
	if set == nil {
		return nil
	}
	var pts []Points
	for _, s := range set.Snapshots() {
		pts = append(pts, Points{Time: s.Time, XY: plane.Project(s.X), Label: snapshot.TimeName(s.Time, set.Meta)})
	}
	return pts
}

// LearnedPanel is the model s of file f on the plane: its potential at the
// last training time (the latest a time-dependent potential was fitted
// for) and, when set (nil for none) holds two times or more, its one-step
// predictions from each observed snapshot, warnings written to warn.
func LearnedPanel(f *modelfile.File, s evaluate.Subject, set *snapshot.Set, plane Plane, warn io.Writer) (Panel, error) {
	last := (f.Times[len(f.Times)-1] - f.TimeOrigin()) / f.MeanInterval
	panel := Panel{Title: "learned V (" + f.Kind + ")", V: plane.OnPlane(s.Model.PotentialAt(last))}
	if set == nil || len(set.Times()) < 2 {
		return panel, nil
	}
	preds, err := evaluate.PredictChecked(s, set, warn)
	if err != nil {
		return panel, err
	}
	for _, p := range preds {
		panel.Predicted = append(panel.Predicted, Points{Time: p.To, XY: plane.Project(p.X)})
	}
	return panel, nil
}

// Frame is the region that holds every point the figure draws: the
// observed cells and every panel's predictions.
func (f Figure) Frame() Box {
	var drawn [][]float64
	for _, p := range f.Observed {
		drawn = append(drawn, p.XY)
	}
	for _, panel := range f.Panels {
		for _, p := range panel.Predicted {
			drawn = append(drawn, p.XY)
		}
	}
	return BoundingBox(drawn...)
}
