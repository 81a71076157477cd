package models

// ParamTensor names one tensor of a flat parameter buffer, so a model file can
// store it by name: buffer[Offset : Offset+Size()] holds it row-major.
type ParamTensor struct {
	Name   string
	Offset int
	Shape  []int
}

// Size is the number of elements, the product of Shape (1 for a scalar).
func (t ParamTensor) Size() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}
