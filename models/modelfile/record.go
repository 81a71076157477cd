package modelfile

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/jkonet-gpu/jkonet-gpu/data/cells"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// TrainingRecord is what a model file's "training" metadata holds
// (docs/formats.md §2): the settings a model was trained with, its losses,
// and what it was trained on.
type TrainingRecord struct {
	Model              string  `json:"model"`
	Data               string  `json:"data"`
	Epochs             int     `json:"epochs,omitempty"`
	BatchSize          int     `json:"batch_size,omitempty"`
	LR                 float64 `json:"lr,omitempty"`
	Seed               uint64  `json:"seed"`
	InteractionSamples int     `json:"interaction_samples,omitempty"`
	// InteractionSampling is "stratified" when the subsamples were drawn
	// stratified along a k-d order of the target population (the CPU's
	// default), and absent for independent draws.
	InteractionSampling string  `json:"interaction_sampling,omitempty"`
	Coupling            string  `json:"coupling"`
	Device              string  `json:"device,omitempty"`
	Collective          string  `json:"collective,omitempty"` // what summed the ranks' gradients (none for one process)
	Ranks               int     `json:"ranks,omitempty"`
	Precision           string  `json:"precision,omitempty"`
	FrozenBeta          bool    `json:"frozen_beta,omitempty"`
	Beta                float64 `json:"beta"`
	FinalLoss           float64 `json:"final_loss,omitempty"`
	// Losses is the loss of every epoch to 4 significant digits (plot's
	// loss curve needs no more; 1000 epochs take about 8 kB of JSON).
	Losses  []float64 `json:"losses,omitempty"`
	Seconds float64   `json:"seconds"`
	// What the model was trained on: the data's fingerprint
	// (snapshot.Set.Hash) and the couplings' provenance; --resume refuses a
	// checkpoint of other data or couplings.
	DataSHA256 string                `json:"data_sha256,omitempty"`
	Couplings  *couplings.Provenance `json:"couplings,omitempty"`
	// Transform maps raw cells into the model's coordinates (--dims,
	// --pca, --standardize, fitted on the training cells, or recorded by
	// prepare); eval, predict and plot apply it to raw cells.
	Transform *cells.Transform `json:"transform,omitempty"`
}

// Encode is the record as JSON for the model file's metadata. A number
// that is not finite is an error naming its field: JSON has no NaN, and a
// record that did not encode would leave a checkpoint that --resume cannot
// read.
func (r TrainingRecord) Encode() ([]byte, error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"lr", r.LR}, {"beta", r.Beta}, {"final_loss", r.FinalLoss}, {"seconds", r.Seconds}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, fmt.Errorf("training record: %s is %v, expected a finite number", f.name, f.v)
		}
	}
	return json.Marshal(r)
}

// Record decodes the file's training record; a file without one gives
// nil. path names the file in the error.
func (f *File) Record(path string) (*TrainingRecord, error) {
	if len(f.Training) == 0 {
		return nil, nil
	}
	var rec TrainingRecord
	if err := json.Unmarshal(f.Training, &rec); err != nil {
		return nil, fmt.Errorf("%s: metadata \"training\": %w", path, err)
	}
	return &rec, nil
}
