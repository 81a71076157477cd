package snapshot

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// TestCSVRefusesHexFloats (issue 19): Go's ParseFloat reads 0x1p-2 and
// 0x_1p0, which no CSV writer means as numbers; they are refused, naming
// the line and the column.
func TestCSVRefusesHexFloats(t *testing.T) {
	for _, field := range []string{"0x1p-2", "0X1P0", "0x_1p0", "-0x1.8p1"} {
		path := writeFile(t, "hex.csv", "t,x0\n0,1\n1,"+field+"\n")
		_, err := Load(path, LoadOptions{})
		if want := path + `: line 3, column "x0": "` + field + `" is not a decimal number`; err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", field, err, want)
		}
	}
}

// TestIntegerLabelsBeyondFloat64 (issue 19): integer time labels 2^53 and
// 2^53+1 would read as one float64 time, merging two snapshots; a label
// float64 cannot hold exactly is refused, in CSV and in NPZ (int64 "t").
// 2^53 itself, exact, is read.
func TestIntegerLabelsBeyondFloat64(t *testing.T) {
	const big = 1 << 53
	path := writeFile(t, "big.csv", fmt.Sprintf("t,x0\n%d,1\n%d,2\n%d,3\n", big, big, big+1))
	_, err := Load(path, LoadOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), path+`: line 4, column "t": integer time label 9007199254740993 is beyond 2^53`) {
		t.Errorf("CSV: %v", err)
	}
	path = writeFile(t, "huge.csv", "t,x0\n0,1\n99999999999999999999,2\n")
	if _, err := Load(path, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "integer time label 99999999999999999999 is beyond 2^53") {
		t.Errorf("CSV beyond int64: %v", err)
	}
	path = writeFile(t, "ok.csv", fmt.Sprintf("t,x0\n0,1\n%d,2\n4.5e15,3\n", big))
	if _, err := Load(path, LoadOptions{}); err != nil {
		t.Errorf("CSV with 2^53 and 4.5e15: %v", err)
	}

	npzWith := func(labels ...int64) string {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("x.npy")
		x := make([]byte, 8*len(labels))
		w.Write(fuzzcheck.NPY(fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 1), }", len(labels)), x))
		w, _ = zw.Create("t.npy")
		tb := make([]byte, 8*len(labels))
		for i, v := range labels {
			binary.LittleEndian.PutUint64(tb[8*i:], uint64(v))
		}
		w.Write(fuzzcheck.NPY(fmt.Sprintf("{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }", len(labels)), tb))
		zw.Close()
		path := filepath.Join(t.TempDir(), "t.npz")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path = npzWith(big, big, big+1, big+1)
	if _, err := Load(path, LoadOptions{}); err == nil || err.Error() != path+`: field "t": integer time label 9007199254740993 (row 2) is beyond 2^53, where float64 times cannot tell labels apart (it reads as 9007199254740992)` {
		t.Errorf("NPZ: %v", err)
	}
	if _, err := Load(npzWith(0, 0, big, big), LoadOptions{}); err != nil {
		t.Errorf("NPZ with 2^53: %v", err)
	}
}

// TestTimeStepsBelowThreshold (issue 19): times 0, 1e-320, 1 were
// accepted (τ a denormal) although steps that underflow against the mean
// interval are refused: a step below 1e-9 of the span is refused, naming
// the two times; one just above is read.
func TestTimeStepsBelowThreshold(t *testing.T) {
	s := &Set{X: []float64{0, 1, 2, 3, 4, 5}, D: 1, T: []float64{0, 0, 1e-320, 1e-320, 1, 1}}
	err := s.Validate()
	if want := `field "t": times 0 and 1e-320 are 1e-320 apart, less than 1e-09 of the span 1 from the first time to the last (merge or relabel them)`; err == nil || err.Error() != want {
		t.Errorf("0, 1e-320, 1: %v\nwant %s", err, want)
	}
	s.T = []float64{0, 0, 1000, 1000, 1000 + 0.9e-6, 1000 + 0.9e-6}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "times 1000 and 1000.0000009") {
		t.Errorf("0, 1000, 1000+9e-7: %v", err)
	}
	s.T = []float64{0, 0, 1.1e-9, 1.1e-9, 1, 1}
	if err := s.Validate(); err != nil {
		t.Errorf("0, 1.1e-9, 1: %v", err)
	}
}
