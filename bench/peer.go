// Package bench compares jkonet-gpu's solvers with their peers side by side in
// one run on the same machine: POT, scikit-learn and PyTorch through small
// Python scripts (run with the system's /usr/bin/python3 when Debian's
// packages are installed), and the CPU backend with the CUDA one (CompareGPU).
package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Python is the interpreter the peers run with: Debian's, where python3-pot,
// python3-sklearn and python3-torch install.
const Python = "/usr/bin/python3"

// ErrNoPeer reports that a peer's Python modules are not installed.
var ErrNoPeer = errors.New("peer not available")

// PeerAvailable reports whether Python can import every module, and if not
// returns an error wrapping ErrNoPeer that names the missing package.
func PeerAvailable(modules ...string) error {
	if _, err := os.Stat(Python); err != nil {
		return fmt.Errorf("%w: %s not found", ErrNoPeer, Python)
	}
	for _, m := range modules {
		if err := exec.Command(Python, "-c", "import "+m).Run(); err != nil {
			return fmt.Errorf("%w: python module %q not importable (apt-get install python3-pot python3-sklearn python3-torch)", ErrNoPeer, m)
		}
	}
	return nil
}

// RunPeer runs a Python peer script. The script gets one argument, a
// directory holding args.json (the JSON encoding of args) and, for each entry
// of arrays, NAME.f64: the values as little-endian float64, to be read with
// numpy.fromfile(path, dtype="<f8"). The script prints one JSON object on
// stdout, which is decoded into result.
func RunPeer(script string, args any, arrays map[string][]float64, result any) error {
	dir, err := os.MkdirTemp("", "jkonet-peer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := json.Marshal(args)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "args.json"), a, 0o644); err != nil {
		return err
	}
	for name, v := range arrays {
		buf := make([]byte, 8*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(f))
		}
		if err := os.WriteFile(filepath.Join(dir, name+".f64"), buf, 0o644); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(Python, path, dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("python peer failed: %v: %s", err, msg)
	}
	if err := json.Unmarshal(stdout.Bytes(), result); err != nil {
		return fmt.Errorf("python peer printed no JSON result: %w", err)
	}
	return nil
}

// alternate runs the Go side and then the peer side, rounds times, and
// returns the median of all the timings (seconds) each side reported.
// Alternating spreads the machine's changing load over both sides.
func alternate(rounds int, goSide, peerSide func() ([]float64, error)) (goMedian, peerMedian float64, err error) {
	var goTimes, peerTimes []float64
	for range rounds {
		t, err := goSide()
		if err != nil {
			return 0, 0, err
		}
		goTimes = append(goTimes, t...)
		if t, err = peerSide(); err != nil {
			return 0, 0, err
		}
		peerTimes = append(peerTimes, t...)
	}
	return median(goTimes), median(peerTimes), nil
}

// median is the median of v (the mean of the middle two for even lengths).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
