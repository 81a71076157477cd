package npz

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The .npy header is a Python dict literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }
//
// padded with spaces and a final newline. parseHeader reads exactly that
// grammar: string keys, a string descr, True/False, a tuple of integers.

type header struct {
	descr   string
	fortran bool
	shape   []int
}

type headerParser struct {
	s   string
	pos int
}

func parseHeader(s string) (header, error) {
	p := &headerParser{s: s}
	var h header
	seen := map[string]bool{}
	if !p.consume('{') {
		return h, errors.New("header is not a dict")
	}
	for !p.consume('}') {
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("header repeats key %q", key)
		}
		seen[key] = true
		if !p.consume(':') {
			return h, fmt.Errorf("header: expected ':' after key %q", key)
		}
		switch key {
		case "descr":
			if p.peek() == '[' {
				return h, errors.New("structured dtypes are not supported")
			}
			h.descr, err = p.str()
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			err = fmt.Errorf("header has unknown key %q", key)
		}
		if err != nil {
			return h, err
		}
		if !p.consume(',') && p.peek() != '}' {
			return h, errors.New("header: expected ',' or '}'")
		}
	}
	if strings.TrimSpace(s[p.pos:]) != "" {
		return h, errors.New("header has text after the dict")
	}
	for _, key := range []string{"descr", "fortran_order", "shape"} {
		if !seen[key] {
			return h, fmt.Errorf("header lacks key %q", key)
		}
	}
	return h, nil
}

func (p *headerParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *headerParser) peek() byte {
	p.skipSpace()
	if p.pos == len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *headerParser) consume(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.pos++
	return true
}

func (p *headerParser) str() (string, error) {
	quote := p.peek()
	if quote != '\'' && quote != '"' {
		return "", errors.New("header: expected a quoted string")
	}
	end := strings.IndexByte(p.s[p.pos+1:], quote)
	if end < 0 {
		return "", errors.New("header: unterminated string")
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

func (p *headerParser) boolean() (bool, error) {
	p.skipSpace()
	for word, v := range map[string]bool{"True": true, "False": false} {
		if strings.HasPrefix(p.s[p.pos:], word) {
			p.pos += len(word)
			return v, nil
		}
	}
	return false, errors.New("header: fortran_order is not True or False")
}

func (p *headerParser) tuple() ([]int, error) {
	if !p.consume('(') {
		return nil, errors.New("header: shape is not a tuple")
	}
	shape := []int{}
	for !p.consume(')') {
		if len(shape) == maxRank {
			return nil, fmt.Errorf("header: shape has more than %d dimensions", maxRank)
		}
		p.skipSpace()
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.Atoi(p.s[start:p.pos])
		if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("header: shape dimension %.20s is too large", p.s[start:p.pos])
		}
		if err != nil {
			return nil, errors.New("header: shape holds something other than non-negative integers")
		}
		shape = append(shape, n)
		p.consume('L') // Python 2 long literal, e.g. (3L, 2L)
		if !p.consume(',') && p.peek() != ')' {
			return nil, errors.New("header: expected ',' or ')' in shape")
		}
	}
	return shape, nil
}

// formatHeader writes a version 1.0 .npy prefix: magic, version, header
// length and the dict, padded with spaces and a newline so that the data
// starts at a multiple of 64 bytes, as NumPy does.
func formatHeader(descr string, shape []int) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, FormatShape(shape))
	const prefixLen = len(magic) + 2 + 2 // magic, version, uint16 header length
	total := prefixLen + len(dict) + 1
	padded := dict + strings.Repeat(" ", (64-total%64)%64) + "\n"
	out := make([]byte, 0, prefixLen+len(padded))
	out = append(out, magic...)
	out = append(out, 1, 0, byte(len(padded)), byte(len(padded)>>8))
	return append(out, padded...)
}
