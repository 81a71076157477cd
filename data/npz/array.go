// Package npz reads and writes NumPy .npz archives: a zip file holding one
// .npy file per array (np.savez, np.savez_compressed). Only little-endian
// numeric arrays are supported; that is what NumPy writes on every common
// machine. Fortran-order arrays (what np.save writes for a transposed array)
// are reordered to C order on reading; writing is always C order.
package npz

import (
	"strconv"
	"strings"
)

// Array is one decoded array. Float dtypes are widened into Float, integer
// and bool dtypes into Int; the other slice is nil.
type Array struct {
	DType string    // NumPy descriptor as stored: "<f8", "<f4", "<i8", "|u1", "|b1", ...
	Shape []int     // empty for a 0-d scalar
	Float []float64 // data of float dtypes, C order
	Int   []int64   // data of integer and bool dtypes, C order
}

// Entry is a named array; the name is the key np.load uses (no ".npy").
type Entry struct {
	Name  string
	Array *Array
}

// Archive is the list of arrays of one file, in archive order.
type Archive []Entry

// Get returns the array called name, or nil if the archive has none.
func (a Archive) Get(name string) *Array {
	for _, e := range a {
		if e.Name == name {
			return e.Array
		}
	}
	return nil
}

// FromFloat64 returns a "<f8" array of the given shape; data is not copied.
func FromFloat64(shape []int, data []float64) *Array {
	return &Array{DType: "<f8", Shape: shape, Float: data}
}

// FromInt64 returns a "<i8" array of the given shape; data is not copied.
func FromInt64(shape []int, data []int64) *Array {
	return &Array{DType: "<i8", Shape: shape, Int: data}
}

// FromBytes returns a 1-D "|u1" array holding data.
func FromBytes(data []byte) *Array {
	values := make([]int64, len(data))
	for i, b := range data {
		values[i] = int64(b)
	}
	return &Array{DType: "|u1", Shape: []int{len(data)}, Int: values}
}

// Len is the number of elements: the product of the shape (1 for a scalar).
func (a *Array) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// IsFloat reports whether the array has a float dtype (data in Float).
func (a *Array) IsFloat() bool { return dtypeKind(a.DType) == 'f' }

// IsInt reports whether the array has an integer dtype (data in Int).
func (a *Array) IsInt() bool {
	k := dtypeKind(a.DType)
	return k == 'i' || k == 'u'
}

// IsBool reports whether the array has the bool dtype (data in Int, 0 or 1).
func (a *Array) IsBool() bool { return dtypeKind(a.DType) == 'b' }

// Floats returns the data as float64 values: Float itself for float dtypes,
// a converted copy for integer and bool dtypes.
func (a *Array) Floats() []float64 {
	if a.IsFloat() {
		return a.Float
	}
	out := make([]float64, len(a.Int))
	for i, v := range a.Int {
		out[i] = float64(v)
	}
	return out
}

// TypeName describes the dtype in words for error messages: "float64", "uint8", "bool".
func (a *Array) TypeName() string {
	names := map[byte]string{'f': "float", 'i': "int", 'u': "uint"}
	k := dtypeKind(a.DType)
	if k == 'b' {
		return "bool"
	}
	if len(a.DType) < 3 || names[k] == "" {
		return a.DType
	}
	bytes, err := strconv.Atoi(a.DType[2:])
	if err != nil {
		return a.DType
	}
	return names[k] + strconv.Itoa(8*bytes)
}

// FormatShape writes a shape the way Python prints a tuple: "()", "(3,)", "(3, 2)".
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, s := range shape {
		parts[i] = strconv.Itoa(s)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func dtypeKind(descr string) byte {
	if len(descr) < 2 {
		return 0
	}
	return descr[1]
}
