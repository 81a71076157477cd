package main

import (
	"fmt"
	"strconv"
	"strings"
)

// maxListed is how many values a message lists before it gives the count
// instead: a warning or an error stays one readable line (issue 19: a
// warning of eval listing every time of a file was 109 KB long).
const maxListed = 8

// listed writes values as [a b c … z] (the first maxListed-1 and the last,
// with how many in all), or all of them when they are few.
func listed(values []float64) string {
	format := func(vs []float64) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		return strings.Join(s, " ")
	}
	if len(values) <= maxListed {
		return "[" + format(values) + "]"
	}
	return fmt.Sprintf("[%s … %s] (%d in all)", format(values[:maxListed-1]), format(values[len(values)-1:]), len(values))
}

// maxMessage bounds the bytes of one error line printed by run: a list a
// message did not elide is cut, with the count of bytes left out.
const maxMessage = 2000

// boundedLine cuts msg to maxMessage bytes (at a rune boundary).
func boundedLine(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage
	for cut > 0 && !utf8RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", msg[:cut], len(msg)-cut)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
