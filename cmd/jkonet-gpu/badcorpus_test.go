package main

// The bad-input corpus in testdata/bad/ (see its README.md) is written by
// badCorpus below, byte for byte, so it can be regenerated and reviewed:
//
//	go test ./cmd/jkonet-gpu -run TestBadCorpusUpToDate -update-bad
//
// The NPZ files are assembled here from raw .npy headers and zip entries,
// not with the npz package's writer, so that they can hold what that writer
// refuses (string and complex dtypes, forged shapes, truncation) and stay
// the same bytes whatever becomes of the writer. The checkpoints are written
// with modelfile.Save, since they must be real checkpoints of the wrong model.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
	"github.com/jkonet-gpu/jkonet-gpu/models/modelfile"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

var updateBad = flag.Bool("update-bad", false, "rewrite testdata/bad/ from badCorpus")

// badDir is the corpus, relative to this package.
var badDir = filepath.Join("..", "..", "testdata", "bad")

// npyEntry is one array of a hand-built NPZ: the header's descr and shape
// and the raw data bytes (which need not match them).
type npyEntry struct {
	name  string
	descr string
	shape string // the header's tuple, e.g. "(3, 2)"
	data  []byte
}

// npy is a version 1.0 .npy stream with the header padded as NumPy pads it
// (to a multiple of 64 bytes, ending in a newline).
func npy(descr, shape string, data []byte) []byte {
	return fuzzcheck.NPY(fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape), data)
}

// npzBytes zips the entries (stored, dated 1980-01-01, as numpy.savez does).
func npzBytes(entries ...npyEntry) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name + ".npy", Method: zip.Store, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			panic(err)
		}
		w.Write(npy(e.descr, e.shape, e.data))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func f64(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func i64(v ...int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// points2 is a small valid 2-D cloud: n points per time for times 0..T-1,
// deterministic and spread out (no two points equal).
func points2(n, times int) (x, t []float64, id []int64) {
	for k := range times {
		for i := range n {
			x = append(x, math.Cos(float64(7*i+k))+0.1*float64(k), math.Sin(float64(5*i+3*k))+0.05*float64(i))
			t = append(t, float64(k))
			id = append(id, int64(i))
		}
	}
	return x, t, id
}

// snapshotNPZ is a valid snapshot file with x (M×d), t and id.
func snapshotNPZ(x []float64, d int, t []float64, id []int64) []byte {
	m := len(t)
	return npzBytes(
		npyEntry{"x", "<f8", fmt.Sprintf("(%d, %d)", m, d), f64(x...)},
		npyEntry{"t", "<f8", fmt.Sprintf("(%d,)", m), f64(t...)},
		npyEntry{"id", "<i8", fmt.Sprintf("(%d,)", m), i64(id...)},
	)
}

// couplingsNPZ is a couplings file of K pairs in d = 2, every pair in
// transition 0 (with the given times).
func couplingsNPZ(k int, times []float64) []byte {
	x, _, _ := points2(k, 1)
	y := make([]float64, len(x))
	for i := range y {
		y[i] = x[i] + 0.01
	}
	w, tau, kk := make([]float64, k), make([]float64, k), make([]int64, k)
	for p := range k {
		w[p], tau[p] = 1/float64(k), 1
	}
	return npzBytes(
		npyEntry{"x", "<f8", fmt.Sprintf("(%d, 2)", k), f64(x...)},
		npyEntry{"y", "<f8", fmt.Sprintf("(%d, 2)", k), f64(y...)},
		npyEntry{"w", "<f8", fmt.Sprintf("(%d,)", k), f64(w...)},
		npyEntry{"k", "<i8", fmt.Sprintf("(%d,)", k), i64(kk...)},
		npyEntry{"tau", "<f8", fmt.Sprintf("(%d,)", k), f64(tau...)},
		npyEntry{"score", "<f8", fmt.Sprintf("(%d, 2)", k), f64(make([]float64, 2*k)...)},
		npyEntry{"times", "<f8", fmt.Sprintf("(%d,)", len(times)), f64(times...)},
	)
}

// checkpointBytes is a real checkpoint (parameters, Adam moments, a
// training record) of a freshly initialised network model, or with ckpt
// false the model file alone; params, if not nil, edits the parameters.
func checkpointBytes(t *testing.T, kind string, d int, ckpt bool, params func([]float64)) []byte {
	t.Helper()
	net, err := networks.NewNet(kind, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	if params != nil {
		params(net.Params)
	}
	f := &modelfile.File{Kind: kind, Dim: d, Times: []float64{0, 1, 2}, MeanInterval: 1, Params: net.Params,
		Training: []byte(`{"model":"` + kind + `","data":"train.npz","epochs":1,"batch_size":250,"lr":0.001,"seed":0,"coupling":"exact","device":"cpu","beta":0,"seconds":0}`),
	}
	if ckpt {
		f.M, f.V, f.Steps = make([]float64, len(net.Params)), make([]float64, len(net.Params)), 1
	}
	path := filepath.Join(t.TempDir(), "ckpt")
	if err := modelfile.Save(path, f); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badCorpus returns the corpus: file name → content. README.md in
// testdata/bad/ describes each file; TestBadCorpusUpToDate keeps the two in
// step.
func badCorpus(t *testing.T) map[string][]byte {
	x, tt, id := points2(6, 3) // 18 rows, times 0, 1, 2
	good := snapshotNPZ(x, 2, tt, id)
	files := map[string][]byte{}

	// NPZ snapshot files.
	files["truncated.npz"] = good[:len(good)*3/5] // the zip's central directory is gone
	files["x_strings.npz"] = npzBytes(
		npyEntry{"x", "<U3", "(4, 2)", bytes.Repeat([]byte{'a', 0, 0, 0}, 4*2*3)},
		npyEntry{"t", "<f8", "(4,)", f64(0, 0, 1, 1)},
	)
	complexData := make([]float64, 4*2*2) // (re, im) pairs
	for i := range complexData {
		complexData[i] = float64(i)
	}
	files["x_complex.npz"] = npzBytes(
		npyEntry{"x", "<c16", "(4, 2)", f64(complexData...)},
		npyEntry{"t", "<f8", "(4,)", f64(0, 0, 1, 1)},
	)
	nan := slices.Clone(x)
	nan[2*2+1] = math.NaN() // row 2
	files["x_nan.npz"] = snapshotNPZ(nan, 2, tt, id)
	inf := slices.Clone(x)
	inf[7*2] = math.Inf(1) // row 7
	files["x_inf.npz"] = snapshotNPZ(inf, 2, tt, id)
	files["empty.npz"] = npzBytes(
		npyEntry{"x", "<f8", "(0, 2)", nil},
		npyEntry{"t", "<f8", "(0,)", nil},
	)
	x1, t1, id1 := points2(6, 1)
	files["one_time.npz"] = snapshotNPZ(x1, 2, t1, id1)
	files["t_length.npz"] = npzBytes(
		npyEntry{"x", "<f8", "(18, 2)", f64(x...)},
		npyEntry{"t", "<f8", "(17,)", f64(tt[:17]...)},
	)
	files["huge_shape.npz"] = npzBytes(
		npyEntry{"x", "<f8", "(1000000000000, 2)", f64(x[:8]...)},
		npyEntry{"t", "<f8", "(4,)", f64(0, 0, 1, 1)},
	)
	wide := slices.Clone(tt)
	for i, v := range wide {
		wide[i] = (v - 1) * 1e308 // labels −1e308, 0, 1e308: finite, their range is not
	}
	files["t_range_overflow.npz"] = snapshotNPZ(x, 2, wide, id)
	var x3 []float64
	for i := range len(tt) {
		x3 = append(x3, x[2*i], x[2*i+1], float64(i%5)/5)
	}
	files["dim3.npz"] = snapshotNPZ(x3, 3, tt, id)

	// CSV snapshot files.
	files["no_time.csv"] = []byte("x0,x1\n0.5,1.0\n1.5,-2.0\n")
	files["non_numeric.csv"] = []byte("t,x0,x1\n0,0.5,1.0\n0,1.5,abc\n1,0.25,0.75\n")
	files["ragged.csv"] = []byte("t,x0,x1\n0,0.5,1.0\n0,1.5\n1,0.25,0.75\n")

	// Couplings files (train --couplings, with data at times 0, 1, 2).
	files["couplings_duplicate_times.npz"] = couplingsNPZ(4, []float64{0, 1, 1})
	files["couplings_zero_pairs.npz"] = couplingsNPZ(0, []float64{0, 1, 2})

	// Checkpoints (train --resume) and model files (predict, eval, plot).
	files["ckpt_potential.safetensors.ckpt"] = checkpointBytes(t, "potential", 2, true, nil)
	files["ckpt_potential_d3.safetensors.ckpt"] = checkpointBytes(t, "potential", 3, true, nil)
	files["model_nan.safetensors"] = checkpointBytes(t, "potential", 2, false, func(p []float64) { p[3] = math.NaN() })

	// Single-cell files (h5ad fixtures, few cells for --pca).
	maps.Copy(files, cellBadCorpus(t))
	maps.Copy(files, hardeningBadCorpus(t, x, tt, id))
	return files
}

// hardeningBadCorpus adds the files of issue 19's second round: silent
// misreads (hex floats in CSV, integer labels float64 cannot tell apart,
// a step that underflows against the span, h5ad links, 0 cells), a file
// that decodes to more than --max-memory, and a model whose checksum was
// removed.
func hardeningBadCorpus(t *testing.T, x, tt []float64, id []int64) map[string][]byte {
	files := map[string][]byte{}
	files["hex.csv"] = []byte("t,x0,x1\n0,0.5,1.0\n0,0x1p-2,1.5\n1,0.25,0.75\n1,1,1\n")
	const big = int64(1) << 53
	files["t_beyond_2p53.npz"] = npzBytes(
		npyEntry{"x", "<f8", "(4, 2)", f64(x[:8]...)},
		npyEntry{"t", "<i8", "(4,)", i64(big, big, big+1, big+1)},
	)
	tiny := slices.Clone(tt)
	for i, v := range tiny {
		tiny[i] = []float64{0, 1e-320, 1}[int(v)]
	}
	files["t_tiny_step.npz"] = snapshotNPZ(x, 2, tiny, id)

	// A valid snapshot file with a deflated member of 10^6 zero bytes: 9 MB
	// decoded (the bytes and their int64 values) from 2 kB, within the
	// bound relative to the archive's size, beyond --max-memory 1M.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []npyEntry{{"x", "<f8", "(18, 2)", f64(x...)}, {"t", "<f8", "(18,)", f64(tt...)}, {"junk", "|u1", "(1000000,)", make([]byte, 1000000)}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name + ".npy", Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(npy(e.descr, e.shape, e.data))
	}
	zw.Close()
	files["budget.npz"] = buf.Bytes()

	// A model file of format version 2 whose checksum was deleted.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(path, checkpointBytes(t, "potential", 2, false, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, "checksum")
	if err := safetensors.WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if files["model_no_checksum.safetensors"], err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}

	for name, fixture := range map[string]string{"links.h5ad": "links.h5ad", "big_labels.h5ad": "big_labels.h5ad", "zero_cells.h5ad": "zero_cells.h5ad"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "data", "h5ad", "testdata", fixture))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

// TestBadCorpusUpToDate checks that testdata/bad/ holds exactly what
// badCorpus makes (plus README.md, which names every file), and rewrites it
// with -update-bad.
func TestBadCorpusUpToDate(t *testing.T) {
	files := badCorpus(t)
	if *updateBad {
		entries, _ := os.ReadDir(badDir)
		for _, e := range entries {
			if _, ok := files[e.Name()]; !ok && e.Name() != "README.md" {
				if err := os.Remove(filepath.Join(badDir, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.MkdirAll(badDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(badDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(badDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(badDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/bad/%s differs from badCorpus (%v): rerun with -update-bad", name, err)
		}
		if !bytes.Contains(readme, []byte("`"+name+"`")) {
			t.Errorf("testdata/bad/README.md does not describe %s", name)
		}
	}
	entries, _ := os.ReadDir(badDir)
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok && e.Name() != "README.md" {
			t.Errorf("testdata/bad/%s is not made by badCorpus: remove it or add it there", e.Name())
		}
	}
}
