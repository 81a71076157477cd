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
	"slices"
	"strconv"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
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
	// Params is the model's flat parameter buffer (networks.Net.Params or
	// linear.Model.Theta()).
	Params []float64
	// Checkpoints only: Adam's moments and the number of steps taken.
	M, V  []float64
	Steps uint64
}

// TimeOrigin is the first training time.
func (f *File) TimeOrigin() float64 { return f.Times[0] }

// Model rebuilds the model the file describes.
func (f *File) Model() (models.Model, error) {
	if f.Kind == linear.Kind || f.Kind == linear.PotentialKind {
		return linear.New(f.Kind, f.Dim, f.Params)
	}
	net, err := networks.NewNet(f.Kind, f.Dim, 0)
	if err != nil {
		return nil, err
	}
	if len(net.Params) != len(f.Params) {
		return nil, fmt.Errorf("%s model in d = %d has %d parameters, the file holds %d", f.Kind, f.Dim, len(net.Params), len(f.Params))
	}
	copy(net.Params, f.Params)
	return net, nil
}

// layout names the parameter blocks of the file's model kind.
func layout(kind string, dim int, params []float64) ([]models.ParamTensor, error) {
	if kind == linear.Kind || kind == linear.PotentialKind {
		m, err := linear.New(kind, dim, params)
		if err != nil {
			return nil, err
		}
		return m.Layout(), nil
	}
	net, err := networks.NewNet(kind, dim, 0)
	if err != nil {
		return nil, err
	}
	return net.Layout(), nil
}

// Save writes f atomically.
func Save(path string, f *File) error {
	lay, err := layout(f.Kind, f.Dim, f.Params)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
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
	if f.Kind != linear.Kind && f.Kind != linear.PotentialKind {
		meta["layers"] = fmt.Sprintf("MLP in→%d→%d→1, softplus", networks.HiddenWidth, networks.HiddenWidth)
	} else {
		meta["features"] = "monomials Π v_i^e_i, e_i ∈ {0..4}, then bumps exp(−‖x−c‖²/0.5), c on linspace(−4, 4, 10)^d, row-major"
	}
	if len(f.Training) > 0 {
		meta["training"] = string(f.Training)
	}
	if f.M != nil {
		tensors["optimizer.m"] = safetensors.Tensor{Shape: []int{len(f.M)}, Data: f.M}
		tensors["optimizer.v"] = safetensors.Tensor{Shape: []int{len(f.V)}, Data: f.V}
		meta["steps"] = strconv.FormatUint(f.Steps, 10)
	}
	meta[checksumKey] = checksum(tensors, meta)
	return safetensors.WriteFile(path, tensors, meta)
}

// Load reads a model file or checkpoint; errors name the file and the field.
func Load(path string) (*File, error) {
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := verifyChecksum(tensors, meta); err != nil {
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
	// the values the file holds: a network in dimension d has at least
	// d·HiddenWidth parameters, and its layout fixes the count; a linear
	// model checks d ≤ 4 and the count against its features itself.
	values := 0
	for _, t := range tensors {
		values += len(t.Data) + len(t.Int)
	}
	var lay []models.ParamTensor
	if f.Kind == linear.Kind || f.Kind == linear.PotentialKind {
		if count > values {
			return nil, fmt.Errorf("metadata \"parameters\": %d parameters declared, but the file holds only %d values", count, values)
		}
		f.Params = make([]float64, count)
		if lay, err = layout(f.Kind, f.Dim, f.Params); err != nil {
			return nil, fmt.Errorf("metadata \"kind\": %w", err)
		}
	} else {
		if slices.Contains(networks.Kinds(), f.Kind) && f.Dim > values/networks.HiddenWidth {
			return nil, fmt.Errorf("metadata \"dim\": a %s model in d = %d has more parameters than the %d values the file holds", f.Kind, f.Dim, values)
		}
		if lay, err = layout(f.Kind, f.Dim, nil); err != nil {
			return nil, fmt.Errorf("metadata \"kind\": %w", err)
		}
		if want := paramCount(lay); want != count {
			return nil, fmt.Errorf("metadata \"parameters\": a %s model in d = %d has %d parameters, got %d", f.Kind, f.Dim, want, count)
		}
		f.Params = make([]float64, count)
	}
	for _, t := range lay {
		ten, ok := tensors[t.Name]
		if !ok || ten.Int != nil || len(ten.Data) != t.Size() || t.Offset+t.Size() > count {
			return nil, fmt.Errorf("tensor %q: expected a float tensor of shape %v for the %s model", t.Name, t.Shape, f.Kind)
		}
		if err := checkFinite(t.Name, ten.Data); err != nil {
			return nil, err
		}
		copy(f.Params[t.Offset:], ten.Data)
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
