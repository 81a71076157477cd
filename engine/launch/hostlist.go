package launch

import (
	"fmt"
	"strconv"
	"strings"
)

// FirstHost returns the first host of a Slurm hostlist such as
// "node[01-04,07],gpu3" (node01) or "rack[1-2]-n[08-09]" (rack1-n08): the
// hosts are comma-separated outside brackets, and each bracket holds
// comma-separated numbers or lo-hi ranges whose first value (with its zero
// padding) is the first host's. The whole list is checked, so a malformed
// entry anywhere is reported rather than met later by another tool.
func FirstHost(list string) (string, error) {
	if strings.TrimSpace(list) == "" {
		return "", fmt.Errorf("expected a host list, got an empty one")
	}
	var first string
	for i, entry := range splitOutsideBrackets(list) {
		host, err := firstOfEntry(entry)
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = host
		}
	}
	return first, nil
}

// splitOutsideBrackets splits s at the commas that are not inside [ ].
func splitOutsideBrackets(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// firstOfEntry expands one host entry to its first host, replacing each
// bracket by its first value.
func firstOfEntry(entry string) (string, error) {
	if entry == "" {
		return "", fmt.Errorf("empty host name between commas")
	}
	var host strings.Builder
	rest := entry
	for {
		open := strings.IndexAny(rest, "[]")
		if open < 0 {
			host.WriteString(rest)
			return host.String(), nil
		}
		if rest[open] == ']' {
			return "", fmt.Errorf("host %q: ']' without '['", entry)
		}
		host.WriteString(rest[:open])
		end := strings.IndexAny(rest[open+1:], "[]")
		if end < 0 || rest[open+1+end] == '[' {
			return "", fmt.Errorf("host %q: '[' without its ']'", entry)
		}
		first, err := firstOfRanges(rest[open+1 : open+1+end])
		if err != nil {
			return "", fmt.Errorf("host %q: %w", entry, err)
		}
		host.WriteString(first)
		rest = rest[open+1+end+1:]
	}
}

// firstOfRanges checks a bracket's "01-04,07" and returns its first value.
func firstOfRanges(ranges string) (string, error) {
	items := strings.Split(ranges, ",")
	for _, item := range items {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		a, errLo := strconv.ParseUint(lo, 10, 32)
		b, errHi := strconv.ParseUint(hi, 10, 32)
		if errLo != nil || errHi != nil {
			return "", fmt.Errorf("[%s]: expected numbers or lo-hi ranges, got %q", ranges, item)
		}
		if a > b {
			return "", fmt.Errorf("[%s]: range %q runs backwards", ranges, item)
		}
	}
	first, _, _ := strings.Cut(items[0], "-")
	return first, nil
}
