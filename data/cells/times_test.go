package cells

import (
	"reflect"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
)

func TestParseTimeValues(t *testing.T) {
	got, err := ParseTimeValues(" 0d=0, 8h = 0.333 ,1d=1,1e-3=2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"0d": 0, "8h": 0.333, "1d": 1, "1e-3": 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for spec, msg := range map[string]string{
		"":                 "empty list",
		"0d=0,8h":          `expected label=time, got "8h"`,
		"=1":               `expected label=time, got "=1"`,
		"0d=0,,1d=1":       `expected label=time, got ""`,
		"0d=zero":          `label "0d": expected a finite number, got "zero"`,
		"0d=NaN":           `label "0d": expected a finite number, got "NaN"`,
		"0d=inf":           `label "0d": expected a finite number, got "inf"`,
		"0d=0,0d=1":        `label "0d" is given twice`,
		"a=1,b=2,a=3":      `label "a" is given twice`,
		"d0=0,d2=1,d3=1.0": `labels "d2" and "d3" are both given the time 1.0 (their cells would merge into one snapshot`,
	} {
		_, err := ParseTimeValues(spec)
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.HasPrefix(err.Error(), "--time-values: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got error %v, want one line holding %q", spec, err, msg)
		}
	}
}

func TestMapTimes(t *testing.T) {
	set := &snapshot.Set{D: 1, X: []float64{1, 2, 3, 4, 5}, T: []float64{2, 0.5, 0, 2, 1e-5}}
	values := map[string]float64{"0": 0, "0.5": 1.0 / 3, "2": 7, "1e-05": 0.25, "unused": 99}
	if err := MapTimes(set, values); err != nil {
		t.Fatal(err)
	}
	if want := []float64{7, 1.0 / 3, 0, 7, 0.25}; !reflect.DeepEqual(set.T, want) {
		t.Fatalf("times %v, want %v", set.T, want)
	}
	set = &snapshot.Set{D: 1, X: []float64{1, 2, 3}, T: []float64{0, 1, 3}}
	err := MapTimes(set, map[string]float64{"0": 0, "1": 1})
	if err == nil || err.Error() != `--time-values: no time for the label "3" (the data's labels: 0, 1, 3)` {
		t.Fatalf("got %v", err)
	}
	if !reflect.DeepEqual(set.T, []float64{0, 1, 3}) {
		t.Fatalf("a refused mapping changed the times: %v", set.T)
	}
}

func TestLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 0.5: "0.5", 1.0 / 3: "0.3333333333333333", 1e-5: "1e-05", 123456789: "1.23456789e+08", -2: "-2"} {
		if got := Label(v); got != want {
			t.Errorf("Label(%v) = %q, want %q", v, got, want)
		}
	}
}
