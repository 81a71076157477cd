// Package atomicfile writes output files so that a failure never leaves a
// half-written file behind: the content goes to a temporary file in the same
// directory, which is renamed over the destination only once it is complete.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path atomically with the bytes that fill writes. If fill
// returns an error, or any step of writing fails, path is left untouched
// and the temporary file is removed.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: cannot create output file: %v", path, unwrapPathError(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("%s: write failed: %v", path, unwrapPathError(err))
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("%s: %v", path, unwrapPathError(err))
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: write failed: %v", path, unwrapPathError(err))
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: cannot write output file: %v", path, unwrapPathError(err))
	}
	return nil
}

// unwrapPathError drops the temporary file name from *os.PathError so the
// message names only the user's path.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	if le, ok := err.(*os.LinkError); ok {
		return le.Err
	}
	return err
}

// CheckWritable fails early, before long work, if path cannot be created:
// its directory is missing or not writable, or path is a directory.
func CheckWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s: is a directory, expected an output file path", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("%s: cannot create output file: %v", path, unwrapPathError(err))
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}
