// Package layers holds no code: its test keeps the module's packages in
// layers. Every package sits in the layer named by its top folder (engine/cuda
// in engine, data/h5ad in data) and may import packages of its own layer or
// of a lower one, never of a higher one, so the root's folders read as the
// design: the order, bottom to top, is written once, in layers_test.go.
//
// The rule covers every .go file under the module root, test files included
// (in-package and external _test packages alike): a test that needs a higher
// layer, such as a model family trained end to end by the engine, lives in
// the higher layer's tests. Folders named testdata or vendor, or starting
// with "." or "_", nested modules, the build outputs in bin and the C++
// emulator kernels/emu are not read. A top folder that holds Go code but is
// missing from the order fails the test, so a new root folder has to be
// given its place.
package layers
