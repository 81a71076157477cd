package engine

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// fingerprint is what every rank of a data-parallel run must hold alike for
// the ranks to train one model (README "Clusters"): the build, the data
// (its sha256 after preprocessing) and the couplings' provenance, the model
// and its network's size, every setting that changes the result as its
// flag, the backend and the length of the sum buffer. Ranks compare it
// with rank 0's when they join (collective.Agree), so a rank launched with
// other flags or other data stops every rank with one line.
func fingerprint(rec *modelfile.TrainingRecord, opts couplings.Options, net *networks.Net, s Settings, device string, from *modelfile.File) []collective.Field {
	prov := "computed here with " + jsonString(opts)
	if rec.Couplings != nil {
		prov = "of data sha256 " + rec.Couplings.Data + " with " + jsonString(rec.Couplings.Options)
	}
	resumed := "no"
	if from != nil {
		resumed = fmt.Sprintf("a checkpoint after %d steps", from.Steps)
	}
	return []collective.Field{
		{Name: "the jkonet-gpu build", Value: buildID()},
		{Name: "the data's sha256", Value: rec.DataSHA256},
		{Name: "the couplings", Value: prov},
		{Name: "--model", Value: rec.Model},
		{Name: "the network's size", Value: fmt.Sprintf("%d parameters in d = %d", len(net.Params), net.D)},
		{Name: "--epochs", Value: strconv.Itoa(s.Epochs)},
		{Name: "--batch-size", Value: strconv.Itoa(s.BatchSize)},
		{Name: "--lr", Value: strconv.FormatFloat(s.LR, 'g', -1, 64)},
		{Name: "--seed", Value: strconv.FormatUint(s.Seed, 10)},
		{Name: "--interaction-samples", Value: estimatorName(s.Samples, s.Stratified)},
		{Name: "--precision", Value: s.Precision},
		{Name: "--device", Value: device},
		{Name: "the gradient clip", Value: strconv.FormatFloat(s.Clip, 'g', -1, 64)},
		{Name: "the frozen networks", Value: strings.Join(s.Freeze, ",")},
		{Name: "--resume", Value: resumed},
		{Name: "the sum buffer's length", Value: strconv.Itoa(SumLayout{Params: len(net.Params)}.Len())},
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// buildID names the running build: the module's version and, where the
// build recorded them, its VCS revision and whether the tree was modified.
func buildID() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	id := info.Main.Version
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			id += " " + s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			id += " (modified)"
		}
	}
	return id
}
