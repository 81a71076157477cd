package layers

import (
	"bufio"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// order is the layer order, bottom to top: a package may import packages of
// its own layer or of a lower one. A package's layer is its top folder under
// the module root.
var order = []string{
	"internal", // helpers outside the design: atomicfile, progress, fuzzcheck
	"kernels",  // device code (CUDA C++, PTX), the driver binding, Philox
	"data",     // readers and writers of data sets and tensor files
	"ot",       // optimal transport, densities, the training couplings
	"models",   // energies, learned networks, the model file
	"eval",     // simulation, prediction and scoring, figures
	"engine",   // training: backends, collectives, launchers
	"bench",    // benchmarks
	"cmd",      // the CLI
}

// skipDirs are folders, relative to the module root, whose Go files are
// not part of the module's packages: the build outputs and the C++ emulator.
var skipDirs = []string{"bin", "kernels/emu"}

// violation is an import that breaks the layer order, or Go code in a folder
// that has no layer.
type violation struct {
	File      string // slash-separated, relative to the module root
	Import    string // the imported path; empty for Go code in an unknown folder
	FromLayer string // the layer of File
	ToLayer   string // the layer of Import
}

func (v violation) String() string {
	name := func(l string) string {
		switch {
		case slices.Contains(order, l):
			return "layer " + l
		case l == ".":
			return "the module root (no layer)"
		}
		return fmt.Sprintf("folder %s (not in the layer order)", l)
	}
	if v.Import == "" {
		return fmt.Sprintf("%s: Go code in %s: give its folder a place in the layer order", v.File, name(v.FromLayer))
	}
	return fmt.Sprintf("%s imports %s: %s may not import %s", v.File, v.Import, name(v.FromLayer), name(v.ToLayer))
}

// layerOf returns the layer of a slash-separated path relative to the module
// root: its top folder, or "." for a file at the root.
func layerOf(rel string) string {
	top, _, found := strings.Cut(rel, "/")
	if !found {
		return "."
	}
	return top
}

// check reads the imports of every .go file under root, the root of module,
// and returns the imports that break the layer order and the files in
// folders without a layer, in file order.
func check(root, module string) ([]violation, error) {
	rank := make(map[string]int, len(order))
	for i, l := range order {
		rank[l] = i
	}
	var out []violation
	fset := token.NewFileSet()
	unknown := map[string]bool{} // top folders already reported
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				slices.Contains(skipDirs, rel) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") {
			return nil
		}
		from := layerOf(rel)
		fromRank, known := rank[from]
		if !known && !unknown[from] {
			unknown[from] = true
			out = append(out, violation{File: rel, FromLayer: from})
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %v", rel, spec.Path.Value, err)
			}
			var to string
			switch {
			case imp == module:
				to = "."
			case strings.HasPrefix(imp, module+"/"):
				to, _, _ = strings.Cut(strings.TrimPrefix(imp, module+"/"), "/")
			default:
				continue // the standard library or another module
			}
			toRank, ok := rank[to]
			if !known || !ok || toRank > fromRank {
				out = append(out, violation{File: rel, Import: imp, FromLayer: from, ToLayer: to})
			}
		}
		return nil
	})
	return out, err
}

// moduleRoot finds the go.mod above the working directory and returns its
// folder and module path.
func moduleRoot(t *testing.T) (root, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestImportsPointDown checks the module itself.
func TestImportsPointDown(t *testing.T) {
	root, module := moduleRoot(t)
	vs, err := check(root, module)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
	// The walk must have found the module's packages: a wrong root would pass
	// vacuously.
	if _, err := os.Stat(filepath.Join(root, "cmd")); err != nil {
		t.Fatalf("module root %s has no cmd folder: %v", root, err)
	}
}

// TestCheckReports runs the checker on a synthetic module with one import of
// each kind, to show that it can fail and says where.
func TestCheckReports(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                  "module example.com/m\n\ngo 1.22\n",
		"internal/util/util.go":   "package util\n",
		"data/set/set.go":         "package set\n\nimport (\n\t\"fmt\"\n\t\"example.com/m/internal/util\"\n\t\"example.com/m/data/other\"\n)\n",
		"data/other/other.go":     "package other\n",
		"ot/plan/plan.go":         "package plan\n\nimport \"example.com/m/engine/run\"\n",
		"ot/plan/plan_test.go":    "package plan_test\n\nimport (\n\t\"example.com/m/ot/plan\"\n\t\"example.com/m/models/energy\"\n)\n",
		"models/energy/energy.go": "package energy\n\nimport \"example.com/m/data/set\"\n",
		"engine/run/run.go":       "package run\n\nimport (\n\t\"example.com/m/models/energy\"\n\t\"example.com/m/tools/gen\"\n\t\"example.com/m\"\n)\n",
		"tools/gen/gen.go":        "package gen\n\nimport \"example.com/m/cmd/app\"\n",
		"cmd/app/main.go":         "package main\n\nimport \"example.com/m/engine/run\"\n",
		"root.go":                 "package m\n",
		"data/set/testdata/x.go":  "package x\n\nimport \"example.com/m/cmd/app\"\n",
		"kernels/emu/x.go":        "package emu\n\nimport \"example.com/m/cmd/app\"\n",
		"bench/.hidden/x.go":      "package x\n\nimport \"example.com/m/cmd/app\"\n",
		"bin/x.go":                "package x\n\nimport \"example.com/m/cmd/app\"\n",
		"data/bin/x.go":           "package x\n\nimport \"example.com/m/cmd/app\"\n",
		"eval/nested/go.mod":      "module example.com/nested\n",
		"eval/nested/x.go":        "package x\n\nimport \"example.com/m/cmd/app\"\n",
	}
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := check(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	want := []violation{
		{File: "data/bin/x.go", Import: "example.com/m/cmd/app", FromLayer: "data", ToLayer: "cmd"},
		{File: "engine/run/run.go", Import: "example.com/m/tools/gen", FromLayer: "engine", ToLayer: "tools"},
		{File: "engine/run/run.go", Import: "example.com/m", FromLayer: "engine", ToLayer: "."},
		{File: "ot/plan/plan.go", Import: "example.com/m/engine/run", FromLayer: "ot", ToLayer: "engine"},
		{File: "ot/plan/plan_test.go", Import: "example.com/m/models/energy", FromLayer: "ot", ToLayer: "models"},
		{File: "root.go", FromLayer: "."},
		{File: "tools/gen/gen.go", FromLayer: "tools"},
		{File: "tools/gen/gen.go", Import: "example.com/m/cmd/app", FromLayer: "tools", ToLayer: "cmd"},
	}
	if !slices.Equal(vs, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", lines(vs), lines(want))
	}
	got := vs[3].String()
	for _, part := range []string{"ot/plan/plan.go", "example.com/m/engine/run", "layer ot", "layer engine"} {
		if !strings.Contains(got, part) {
			t.Errorf("message %q does not name %q", got, part)
		}
	}
}

func lines(vs []violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\t%s\n", v)
	}
	return b.String()
}
