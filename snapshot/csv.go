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
	s, err := readCSV(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readCSV(r io.Reader, opts LoadOptions) (*Set, error) {
	cr := csv.NewReader(r)
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
	for {
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
	cols := csvColumns{time: -1, id: -1}
	seen := map[string]bool{}
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
		return cols, fmt.Errorf("no time column %q in the header (columns: %s)", timeCol, strings.Join(cols.names, ", "))
	}
	if len(cols.coords) == 0 {
		return cols, fmt.Errorf("no coordinate columns besides %q", timeCol)
	}
	return cols, nil
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
	v, err := strconv.ParseFloat(field, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", field)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("expected a finite number, got %q", field)
	}
	return v, nil
}
