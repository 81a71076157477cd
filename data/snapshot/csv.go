package snapshot

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// csvColumns says which header column holds what.
type csvColumns struct {
	names  []string
	time   int
	id     int   // -1 if there is no "id" column
	coords []int // every other column, in header order
}

func loadCSV(path string, opts LoadOptions) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path comes first already
		}
		return nil, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, expected a CSV file", path)
	}
	s, err := readCSV(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// maxCSVLine bounds one line of a CSV file: the reader holds a whole
// record, so an endless line (a symbolic link to /dev/zero, a binary file)
// would otherwise grow without bound. Rows of thousands of coordinates fit
// many times over.
const maxCSVLine = 8 << 20

// lineLimit fails a read once a line exceeds max bytes.
type lineLimit struct {
	r        io.Reader
	max, cur int
	line     int // 1-based number of the line being read
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.line, l.cur = l.line+1, 0
			continue
		}
		if l.cur++; l.cur > l.max {
			return 0, fmt.Errorf("line %d: longer than %d bytes (expected rows of numbers separated by commas; is this a CSV file?)", l.line, l.max)
		}
	}
	return n, err
}

func readCSV(r io.Reader, opts LoadOptions) (*Set, error) {
	lineMax := maxCSVLine
	if b, _ := membudget.Budget(); b/2 < int64(lineMax) {
		lineMax = int(max(b/2, 1))
	}
	cr := csv.NewReader(&lineLimit{r: r, max: lineMax, line: 1})
	cr.FieldsPerRecord = -1 // ragged rows get our own message below
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file (expected a header row naming the columns)")
	}
	if err != nil {
		return nil, err
	}
	cols, err := parseCSVHeader(header, opts)
	if err != nil {
		return nil, err
	}
	s := &Set{D: len(cols.coords)}
	if cols.id >= 0 {
		s.ID = []int64{}
	}
	rowBytes := int64(8 * (len(cols.coords) + 2)) // x, t and id of one row
	for rows := int64(0); ; rows++ {
		// A stream of short rows (a FIFO, a generator behind a link) grows
		// the arrays without bound: they are checked against the memory
		// budget, three times over for the copy a growing slice makes
		// (the old array beside one twice its size).
		if rows%4096 == 0 {
			if err := membudget.Check(3 * (rows + 4096) * rowBytes); err != nil {
				line, _ := cr.FieldPos(0)
				return nil, fmt.Errorf("line %d: %d rows of %d columns and more: %w", line, rows, len(cols.names), err)
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(cols.names) {
			return nil, fmt.Errorf("line %d: expected %d fields as in the header, got %d", line, len(cols.names), len(rec))
		}
		if err := s.appendCSVRecord(rec, cols); err != nil {
			return nil, fmt.Errorf("line %d, %w", line, err)
		}
	}
	if s.Len() == 0 {
		return nil, errors.New("no data rows after the header")
	}
	return s, nil
}

func parseCSVHeader(header []string, opts LoadOptions) (csvColumns, error) {
	timeCol := opts.TimeCol
	if timeCol == "" {
		timeCol = "t"
	}
	// Sized up front: a header of thousands of short names would otherwise
	// cost many times its size in regrown maps and slices.
	cols := csvColumns{time: -1, id: -1, names: make([]string, 0, len(header)), coords: make([]int, 0, len(header))}
	seen := make(map[string]bool, len(header))
	for i, name := range header {
		name = strings.TrimSpace(name)
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // byte-order mark written by spreadsheet programs
		}
		if seen[name] {
			return cols, fmt.Errorf("header names column %q twice", name)
		}
		seen[name] = true
		cols.names = append(cols.names, name)
		switch name {
		case timeCol:
			cols.time = i
		case "id":
			cols.id = i
		default:
			cols.coords = append(cols.coords, i)
		}
	}
	if cols.time < 0 {
		return cols, fmt.Errorf("no time column %q in the header (columns: %s)", timeCol, columnList(cols.names))
	}
	if len(cols.coords) == 0 {
		return cols, fmt.Errorf("no coordinate columns besides %q", timeCol)
	}
	return cols, nil
}

// columnList joins column names for an error message, quoting those that
// would not read back plainly (empty, or holding a comma, a quote or a
// character that is not printable, such as a newline in a quoted field).
// Past 20 names it gives the count instead.
func columnList(names []string) string {
	const shown = 20
	out := make([]string, 0, min(len(names), shown)+1)
	for _, name := range names[:min(len(names), shown)] {
		if name == "" || strings.ContainsAny(name, `,"`) || strconv.Quote(name) != `"`+name+`"` {
			name = strconv.Quote(name)
		}
		out = append(out, name)
	}
	if len(names) > shown {
		out = append(out, fmt.Sprintf("… %d columns in all", len(names)))
	}
	return strings.Join(out, ", ")
}

// exactLabel refuses an integer time label that float64 cannot hold
// exactly (beyond 2^53): 2^53 and 2^53+1 would become one snapshot.
func exactLabel(field string, v float64) error {
	i, err := strconv.ParseInt(field, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !strings.ContainsAny(field, ".eE") {
			return fmt.Errorf("integer time label %s is beyond 2^53, where float64 times cannot tell labels apart", field)
		}
		return nil
	}
	if (i > 1<<53 || i < -(1<<53)) && (v >= math.MaxInt64 || int64(v) != i) {
		return fmt.Errorf("integer time label %s is beyond 2^53, where float64 times cannot tell labels apart (it would read as %.17g)", field, v)
	}
	return nil
}

// appendCSVRecord parses one data row; errors start with the column.
func (s *Set) appendCSVRecord(rec []string, cols csvColumns) error {
	for _, c := range cols.coords {
		v, err := parseFinite(rec[c])
		if err != nil {
			return fmt.Errorf("column %q: %w", cols.names[c], err)
		}
		s.X = append(s.X, v)
	}
	t, err := parseFinite(rec[cols.time])
	if err == nil {
		err = exactLabel(strings.TrimSpace(rec[cols.time]), t)
	}
	if err != nil {
		return fmt.Errorf("column %q: %w", cols.names[cols.time], err)
	}
	s.T = append(s.T, t)
	if cols.id >= 0 {
		field := strings.TrimSpace(rec[cols.id])
		id, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return fmt.Errorf("column %q: %q is not an integer id", cols.names[cols.id], field)
		}
		s.ID = append(s.ID, id)
	}
	return nil
}

func parseFinite(field string) (float64, error) {
	field = strings.TrimSpace(field)
	// Go's ParseFloat also reads hexadecimal floats (0x1p-2) and digit
	// separators (0x_1p0), which no CSV writer means as numbers.
	if strings.ContainsAny(field, "xX_") {
		return 0, fmt.Errorf("%q is not a decimal number", field)
	}
	v, err := strconv.ParseFloat(field, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", field)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("expected a finite number, got %q", field)
	}
	return v, nil
}
