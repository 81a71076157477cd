package snapshot

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
)

// TestNamesSurviveSplitAndFiles: each row's name (a barcode) follows its
// row through Split and through Save and Load of both halves.
func TestNamesSurviveSplitAndFiles(t *testing.T) {
	src := gridSet(8, 0, 1, 2)
	for i := range src.T {
		src.Names = append(src.Names, fmt.Sprintf("cell-%d", i))
	}
	train, test, err := Split(src, ByPopulation, 0.5, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "train.npz"), filepath.Join(dir, "test.npz")}
	if err := SaveAll(paths, train, test); err != nil {
		t.Fatal(err)
	}
	for k, half := range []*Set{train, test} {
		back, err := Load(paths[k], LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Names) != back.Len() {
			t.Fatalf("%s: %d names for %d rows", paths[k], len(back.Names), back.Len())
		}
		for i, row := range origin(back) {
			if want := fmt.Sprintf("cell-%d", row); back.Names[i] != want {
				t.Errorf("%s row %d (source row %d) is named %q, want %q", paths[k], i, row, back.Names[i], want)
			}
		}
		if !reflect.DeepEqual(back.Names, half.Names) {
			t.Errorf("%s: names changed through the file", paths[k])
		}
	}
}

// TestNamesRefused: a names array that is not a JSON list of one string
// per row is refused, naming the field.
func TestNamesRefused(t *testing.T) {
	s := gridSet(2, 0, 1)
	for name, raw := range map[string]string{"not json": "cell-0", "short": `["a","b","c"]`, "numbers": `[1,2,3,4]`} {
		path := filepath.Join(t.TempDir(), "s.npz")
		arch := npz.Archive{
			{Name: "x", Array: npz.FromFloat64([]int{s.Len(), s.D}, s.X)},
			{Name: "t", Array: npz.FromFloat64([]int{s.Len()}, s.T)},
			{Name: "names", Array: npz.FromBytes([]byte(raw))},
		}
		if err := npz.WriteFile(path, arch); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path, LoadOptions{}); err == nil || !strings.Contains(err.Error(), `field "names"`) {
			t.Errorf("%s: err = %v, want one naming field \"names\"", name, err)
		}
	}
}
