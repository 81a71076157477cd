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
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// syncFile flushes an open file or directory to stable storage (fsync);
// tests replace it to see what is flushed and when.
var syncFile = (*os.File).Sync

// Write creates path atomically with the bytes that fill writes: the
// temporary file is fsynced before the rename, and its directory after it,
// so that the rename cannot reach the disk before the data. If fill returns
// an error, or any step of writing fails, path is left untouched and the
// temporary file is removed.
func Write(path string, fill func(w io.Writer) error) error {
	return WriteAll(Output{Path: path, Fill: fill})
}

// Output is one file that WriteAll writes: Fill writes its bytes.
type Output struct {
	Path string
	Fill func(w io.Writer) error
}

// WriteAll writes several outputs all or none: each is filled into its own
// temporary file and flushed to disk, and only when every one is complete
// are they renamed into place. A failure before the renames (a fill error,
// a full disk) leaves every destination as it was and removes every
// temporary file.
func WriteAll(outputs ...Output) error {
	var done []*File
	abort := func() {
		for _, f := range done {
			f.Abort()
		}
	}
	for _, o := range outputs {
		f, err := Create(o.Path)
		if err != nil {
			abort()
			return err
		}
		done = append(done, f)
		if err := o.Fill(f); err != nil {
			abort()
			return err
		}
		if err := f.finish(); err != nil {
			abort()
			return err
		}
	}
	for i, f := range done {
		if err := f.install(); err != nil {
			for _, g := range done[i:] {
				g.Abort()
			}
			return err
		}
	}
	return nil
}

// File is an output being written to a temporary file beside its
// destination: Commit puts it in place, Abort removes it. Writes are
// buffered; the first write error is kept and returned by Commit.
type File struct {
	path string
	tmp  *os.File
	bw   *bufio.Writer
	err  error
	done bool
}

// Create starts writing path atomically (see Write). The destination is
// checked as by CheckWritable: a directory, a device, a FIFO or a read-only
// file is refused rather than replaced by the rename.
func Create(path string) (*File, error) {
	if err := checkTarget(path); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot create output file: %v", path, unwrapPathError(err))
	}
	// The lock tells a later Create beside it (removeStale) that a writer
	// is alive; the kernel drops it when the process dies, SIGKILL too.
	syscall.Flock(int(tmp.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return &File{path: path, tmp: tmp, bw: bufio.NewWriterSize(tmp, 1<<20)}, nil
}

// staleAfter is how old (since its last write) a temporary file must be
// before removeStale takes it for a leftover: a file just created may not
// hold its writer's lock yet.
const staleAfter = 10 * time.Second

// removeStale removes the temporary files of this package beside an
// output (.BASE.tmp-DIGITS) that a killed process left behind: unlocked
// (no writer holds them) and unwritten for staleAfter. A writer still at
// work keeps its lock, so concurrent writers are left alone.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleAfter {
			continue
		}
		f, err := os.OpenFile(name, os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(name)
		}
		f.Close()
	}
}

// Write buffers b for the temporary file.
func (f *File) Write(b []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.bw.Write(b)
	if err != nil {
		f.err = fmt.Errorf("%s: write failed: %v", f.path, unwrapPathError(err))
		return n, f.err
	}
	return n, nil
}

// Flush writes the buffered bytes to the temporary file (so that a reader
// of progress sees them after Commit; the destination is untouched).
func (f *File) Flush() error {
	if f.err == nil {
		if err := f.bw.Flush(); err != nil {
			f.err = fmt.Errorf("%s: write failed: %v", f.path, unwrapPathError(err))
		}
	}
	return f.err
}

// Commit flushes the temporary file to disk and renames it over the
// destination; on any failure the destination is untouched and the
// temporary file removed.
func (f *File) Commit() error {
	if err := f.finish(); err != nil {
		f.Abort()
		return err
	}
	if err := f.install(); err != nil {
		f.Abort()
		return err
	}
	return nil
}

// Abort removes the temporary file; the destination is untouched. It may
// be called after Commit, where it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// finish flushes, closes and fsyncs the temporary file.
func (f *File) finish() error {
	if err := f.Flush(); err != nil {
		return err
	}
	path, tmp := f.path, f.tmp
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("%s: %v", path, unwrapPathError(err))
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("%s: cannot flush to disk: %v", path, unwrapPathError(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: write failed: %v", path, unwrapPathError(err))
	}
	return nil
}

// install renames the finished temporary file over the destination (once
// more refusing a destination that is not a regular file) and flushes the
// directory.
func (f *File) install() error {
	if err := checkTarget(f.path); err != nil {
		return err
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return fmt.Errorf("%s: cannot write output file: %v", f.path, unwrapPathError(err))
	}
	f.done = true
	dir := filepath.Dir(f.path)
	return syncDir(dir, f.path)
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
// it is empty, its directory is missing or not writable, or path is not a
// regular file or a new path (a directory, a device, a FIFO, a socket) or
// is read-only, which the rename would replace.
func CheckWritable(path string) error {
	if err := checkTarget(path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("%s: cannot create output file: %v", path, unwrapPathError(err))
	}
	tmp.Close()
	if err := os.Remove(tmp.Name()); err != nil { // named by path, not by the probe's name
		return fmt.Errorf("%s: cannot create output file: %v", path, unwrapPathError(err))
	}
	return nil
}

// checkTarget refuses a destination that the rename must not replace: an
// empty path, anything that exists and is not a regular file (following
// symbolic links), or a read-only file.
func checkTarget(path string) error {
	if path == "" {
		return errors.New("empty output path, expected a file name")
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: cannot use as output file: %v", path, unwrapPathError(err))
	case st.IsDir():
		return fmt.Errorf("%s: is a directory, expected an output file path", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s: is %s, not a regular file; expected an output file path (a regular file or a new name)", path, kind(st.Mode()))
	case st.Mode().Perm()&0o222 == 0 || syscall.Access(path, 2 /* W_OK */) != nil:
		return fmt.Errorf("%s: is read-only; refusing to replace it (make it writable or choose another output path)", path)
	}
	return nil
}

// kind names a non-regular file mode for messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// Named is a file path given on the command line and the flag that gave it.
type Named struct {
	Flag, Path string
}

// CheckOutputs fails early, before any work, if an output cannot be
// written (CheckWritable) or would destroy an input or another output: two
// paths that name the same file once symbolic links, hard links and "./"
// are resolved. Inputs with an empty path are skipped (flags not given).
// The message names both flags.
func CheckOutputs(outputs []Named, inputs ...Named) error {
	for i, o := range outputs {
		if o.Path == "" {
			return fmt.Errorf("%s: empty path, expected an output file name", o.Flag)
		}
		if err := CheckWritable(o.Path); err != nil {
			return fmt.Errorf("%s: %w", o.Flag, err)
		}
		for _, other := range outputs[:i] {
			if sameFile(o.Path, other.Path) {
				return fmt.Errorf("%s and %s name the same file (%s); give each output its own path", other.Flag, o.Flag, o.Path)
			}
		}
		for _, in := range inputs {
			if in.Path != "" && sameFile(o.Path, in.Path) {
				return fmt.Errorf("%s and %s name the same file (%s); an output must not overwrite an input", o.Flag, in.Flag, o.Path)
			}
		}
	}
	return nil
}

// sameFile reports whether a and b name one file: os.SameFile when both
// exist (after symbolic links, so hard links and links count), else the
// same path once the directory's links are resolved.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	if errA == nil || errB == nil {
		return false
	}
	return resolved(a) == resolved(b)
}

// resolved is the absolute path with the directory's symbolic links
// resolved (the file itself need not exist).
func resolved(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	dir, base := filepath.Split(abs)
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(r, base)
	}
	return abs
}
