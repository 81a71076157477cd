// Package modelfile stores trained models as safetensors files: one tensor
// per named parameter block plus string metadata (model kind, dimension,
// layer sizes, training times, settings), readable from Python with the
// safetensors or numpy packages. Checkpoints are model files that also hold
// the optimiser state, so training can resume bit for bit.
package modelfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	// The families a model file may hold register themselves in the table
	// that File.Model, Save and Load read; another family is one more
	// import, here or in the program.
	_ "github.com/jkonet-gpu/jkonet-gpu/models/linear"
	_ "github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// Format is the value of the "format" metadata key.
const Format = "jkonet-gpu model v1"

// File is the content of a model file or checkpoint.
type File struct {
	Kind string // model variant, e.g. "jkonet-star" or "linear"
	Dim  int
	// Times are the training snapshot times; MeanInterval is their mean
	// spacing, the unit of τ and of the time input (docs/design.md §1.3).
	Times        []float64
	MeanInterval float64
	// Training records the settings the model was trained with (JSON).
	Training json.RawMessage
	// Params is the model's flat parameter buffer, laid out as the kind's
	// family (models.LookupFamily) says.
	Params []float64
	// Checkpoints only: Adam's moments and the number of steps taken.
	M, V  []float64
	Steps uint64
}

// TimeOrigin is the first training time.
func (f *File) TimeOrigin() float64 { return f.Times[0] }

// Model rebuilds the model the file describes.
func (f *File) Model() (models.Model, error) {
	fam, err := models.LookupFamily(f.Kind)
	if err != nil {
		return nil, err
	}
	return fam.New(f.Dim, f.Params)
}

// Save writes f atomically.
func Save(path string, f *File) error {
	fam, err := models.LookupFamily(f.Kind)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	lay, err := fam.Layout(f.Dim)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if want := paramCount(lay); want != len(f.Params) {
		return fmt.Errorf("%s: %s model in d = %d has %d parameters, got %d", path, f.Kind, f.Dim, want, len(f.Params))
	}
	tensors := map[string]safetensors.Tensor{}
	for _, t := range lay {
		tensors[t.Name] = safetensors.Tensor{Shape: t.Shape, Data: f.Params[t.Offset : t.Offset+t.Size()]}
	}
	times, _ := json.Marshal(f.Times)
	meta := map[string]string{
		"format":        Format,
		"kind":          f.Kind,
		"dim":           strconv.Itoa(f.Dim),
		"times":         string(times),
		"mean_interval": strconv.FormatFloat(f.MeanInterval, 'g', -1, 64),
		"parameters":    strconv.Itoa(len(f.Params)),
	}
	for k, v := range fam.FileMeta {
		meta[k] = v
	}
	if len(f.Training) > 0 {
		meta["training"] = string(f.Training)
	}
	if f.M != nil {
		tensors["optimizer.m"] = safetensors.Tensor{Shape: []int{len(f.M)}, Data: f.M}
		tensors["optimizer.v"] = safetensors.Tensor{Shape: []int{len(f.V)}, Data: f.V}
		meta["steps"] = strconv.FormatUint(f.Steps, 10)
	}
	meta[versionKey] = strconv.Itoa(FormatVersion)
	meta[checksumKey] = checksum(tensors, meta)
	return safetensors.WriteFile(path, tensors, meta)
}

// Load reads a model file or checkpoint; errors name the file and the field.
func Load(path string) (*File, error) {
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := verifyChecksum(path, tensors, meta); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := fromTensors(tensors, meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func fromTensors(tensors map[string]safetensors.Tensor, meta map[string]string) (*File, error) {
	if meta["format"] != Format {
		return nil, fmt.Errorf("metadata \"format\": expected %q, got %q (not a jkonet-gpu model file?)", Format, meta["format"])
	}
	f := &File{Kind: meta["kind"]}
	var err error
	if f.Dim, err = strconv.Atoi(meta["dim"]); err != nil || f.Dim < 1 {
		return nil, fmt.Errorf("metadata \"dim\": expected a dimension ≥ 1, got %q", meta["dim"])
	}
	if err := json.Unmarshal([]byte(meta["times"]), &f.Times); err != nil || len(f.Times) < 2 {
		return nil, fmt.Errorf("metadata \"times\": expected a JSON list of at least 2 times, got %q", meta["times"])
	}
	for i := 1; i < len(f.Times); i++ {
		if !(f.Times[i] > f.Times[i-1]) {
			return nil, fmt.Errorf("metadata \"times\": expected increasing times, got %v after %v", f.Times[i], f.Times[i-1])
		}
	}
	if f.MeanInterval, err = strconv.ParseFloat(meta["mean_interval"], 64); err != nil || !(f.MeanInterval > 0) || math.IsInf(f.MeanInterval, 1) {
		return nil, fmt.Errorf("metadata \"mean_interval\": expected a positive finite number, got %q", meta["mean_interval"])
	}
	count, err := strconv.Atoi(meta["parameters"])
	if err != nil || count < 1 {
		return nil, fmt.Errorf("metadata \"parameters\": expected a positive count, got %q", meta["parameters"])
	}
	// Nothing is allocated from a declared size before it is checked against
	// the values the file holds: the family's layout (which allocates
	// nothing in proportion to d) fixes the count, and every tensor is
	// checked before the parameters are copied out.
	values := 0
	for _, t := range tensors {
		values += len(t.Data) + len(t.Int)
	}
	fam, err := models.LookupFamily(f.Kind)
	if err != nil {
		return nil, fmt.Errorf("metadata \"kind\": %w", err)
	}
	lay, err := fam.Layout(f.Dim)
	if err != nil {
		return nil, fmt.Errorf("metadata \"kind\": %w", err)
	}
	if want := paramCount(lay); want != count {
		if want > values {
			return nil, fmt.Errorf("metadata \"dim\": a %s model in d = %d has more parameters than the %d values the file holds", f.Kind, f.Dim, values)
		}
		return nil, fmt.Errorf("metadata \"parameters\": a %s model in d = %d has %d parameters, got %d", f.Kind, f.Dim, want, count)
	}
	for _, t := range lay {
		ten, ok := tensors[t.Name]
		if !ok || ten.Int != nil || len(ten.Data) != t.Size() {
			return nil, fmt.Errorf("tensor %q: expected a float tensor of shape %v for the %s model", t.Name, t.Shape, f.Kind)
		}
		if err := checkFinite(t.Name, ten.Data); err != nil {
			return nil, err
		}
	}
	f.Params = make([]float64, count)
	for _, t := range lay {
		copy(f.Params[t.Offset:], tensors[t.Name].Data)
	}
	if s, ok := meta["training"]; ok {
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("metadata \"training\": expected the JSON record of the training settings, got %.40q", s)
		}
		f.Training = json.RawMessage(s)
	}
	if s, ok := meta["steps"]; ok {
		if f.Steps, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fmt.Errorf("metadata \"steps\": expected a step count, got %q", s)
		}
		for _, name := range []string{"optimizer.m", "optimizer.v"} {
			ten, ok := tensors[name]
			if !ok || len(ten.Data) != count {
				return nil, fmt.Errorf("tensor %q: expected %d optimiser values in a checkpoint", name, count)
			}
			if err := checkFinite(name, ten.Data); err != nil {
				return nil, err
			}
		}
		f.M, f.V = tensors["optimizer.m"].Data, tensors["optimizer.v"].Data
	}
	return f, nil
}

// checkFinite refuses NaN and ±Inf in a tensor's values.
func checkFinite(name string, data []float64) error {
	for i, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("tensor %q: entry %d is %v, expected finite values", name, i, v)
		}
	}
	return nil
}

// paramCount is the length of the flat parameter buffer a layout describes.
func paramCount(lay []models.ParamTensor) int {
	n := 0
	for _, t := range lay {
		n = max(n, t.Offset+t.Size())
	}
	return n
}
