// Package atomicfile writes output files so that a failure never leaves a
// half-written file behind: the content goes to a temporary file in the same
// directory, which is flushed to stable storage and renamed over the
// destination only once it is complete, and the directory is flushed after
// the rename. A process that dies, or a node that loses power, leaves the old
// file or the new one, never a mixture or an empty file.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// syncFile flushes an open file or directory to stable storage (fsync);
// tests replace it to see what is flushed and when.
var syncFile = (*os.File).Sync

// Write creates path atomically with the bytes that fill writes: the
// temporary file is fsynced before the rename, and its directory after it,
// so that the rename cannot reach the disk before the data. If fill returns
// an error, or any step of writing fails, path is left untouched and the
// temporary file is removed.
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
	if err = syncFile(tmp); err != nil {
		return fmt.Errorf("%s: cannot flush to disk: %v", path, unwrapPathError(err))
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: write failed: %v", path, unwrapPathError(err))
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: cannot write output file: %v", path, unwrapPathError(err))
	}
	return syncDir(dir, path)
}

// syncDir flushes the directory entry of a renamed file. File systems that
// cannot fsync a directory (EINVAL) are left as they are.
func syncDir(dir, path string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: written, but its directory cannot be flushed to disk: %v", path, unwrapPathError(err))
	}
	defer d.Close()
	if err := syncFile(d); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("%s: written, but its directory cannot be flushed to disk: %v", path, unwrapPathError(err))
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
