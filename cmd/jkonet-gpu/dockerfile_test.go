package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The image is built where Docker runs (make docker-test); this machine has
// none, so TestDockerfile checks what can be checked without it.

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// dockerInstruction is one Dockerfile instruction, continuations joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions, skipping comments
// and blank lines and joining lines that end in a backslash.
func parseDockerfile(text string) []dockerInstruction {
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// dockerIgnored reports whether .dockerignore's patterns leave rel (a
// slash-separated path from the root) out of the build context: a pattern
// matches the path or one of its parent folders, "**/" matches any depth.
func dockerIgnored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	ignored := false
	for _, p := range patterns {
		exclude := !strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		anyDepth := strings.HasPrefix(p, "**/")
		p = strings.TrimPrefix(p, "**/")
		for start := 0; start < len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + 1; end <= len(parts); end++ {
				if ok, _ := path.Match(p, strings.Join(parts[start:end], "/")); ok {
					ignored = exclude
				}
			}
		}
	}
	return ignored
}

func readDockerignore(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	return patterns
}

func TestDockerignoreMatcher(t *testing.T) {
	patterns := []string{".git", "/bin", "**/testdata", "**/*.test", "!keep/x.test"}
	for rel, want := range map[string]bool{
		".git/HEAD": true, "bin/jkonet-gpu": true, "cmd/bin/x": false,
		"testdata/a.npz": true, "couplings/testdata/fuzz/x": true, "ot/ot.test": true,
		"keep/x.test": false, "go.mod": false, "kernels/step.sm80.ptx": false,
	} {
		if got := dockerIgnored(patterns, rel); got != want {
			t.Errorf("%s: ignored = %v, want %v", rel, got, want)
		}
	}
}

// TestDockerfile: the builder is go.mod's Go release and builds this command
// without cgo; every file the build reads is in the context; the run stage
// has NCCL, a non-root user, the NVIDIA toolkit's variables, /data, and the
// built binary as entry point.
func TestDockerfile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile.cuda"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(gomod); toolchain != nil {
		goVersion = toolchain
	}
	if goVersion == nil {
		t.Fatal("go.mod: no go line")
	}
	ignore := readDockerignore(t)

	// Split into stages at FROM.
	type stage struct {
		from string
		ins  []dockerInstruction
	}
	var stages []stage
	for _, in := range parseDockerfile(string(text)) {
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile.cuda: %s before the first FROM", in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile.cuda: %d stages, want 2 (build, run)", len(stages))
	}
	build, run := stages[0], stages[1]

	if want := "golang:" + string(goVersion[1]) + " AS build"; build.from != want {
		t.Errorf("builder: FROM %s, want FROM %s (go.mod)", build.from, want)
	}
	var binary string // the builder's output
	for _, in := range build.ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			if !strings.Contains(in.args, "CGO_ENABLED=0") || !strings.HasSuffix(in.args, " ./cmd/jkonet-gpu") || !strings.Contains(in.args, "-X main.version=") {
				t.Errorf("builder: %q should build ./cmd/jkonet-gpu with CGO_ENABLED=0 and the version", in.args)
			}
			if m := regexp.MustCompile(` -o (\S+)`).FindStringSubmatch(in.args); m != nil {
				binary = m[1]
			}
		}
	}
	if binary == "" {
		t.Fatal("builder: no `go build -o PATH` step")
	}

	if !strings.HasPrefix(run.from, "nvidia/cuda:") || !strings.Contains(run.from, "-runtime-") {
		t.Errorf("run stage: FROM %s, want an nvidia/cuda:*-runtime-* image (they carry libnccl2)", run.from)
	}
	// NCCL 2.23 or later (ncclCommInitRankScalable) comes with CUDA 12.8's
	// images (2.25.1; 12.4.1's has 2.21.5), and the build checks it.
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(run.from, "nvidia/cuda:"), "%d.%d", &major, &minor); err != nil || major*100+minor < 1208 {
		t.Errorf("run stage: FROM %s, want CUDA 12.8 or later, whose libnccl2 is 2.23 or later", run.from)
	}
	if !slices.ContainsFunc(run.ins, func(in dockerInstruction) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "dpkg --compare-versions \"$nccl\" ge 2.23")
	}) {
		t.Error("run stage: no RUN step fails the build on a libnccl2 older than 2.23")
	}
	var installed, user, workdir string
	var entry []string
	env := map[string]string{}
	for _, st := range stages {
		for _, in := range st.ins {
			if in.cmd != "COPY" {
				continue
			}
			fields := strings.Fields(in.args)
			if strings.HasPrefix(fields[0], "--from=") {
				if fields[0] != "--from=build" || fields[1] != binary {
					t.Errorf("COPY %s: want --from=build %s", in.args, binary)
				}
				installed = fields[len(fields)-1]
				continue
			}
			for _, src := range fields[:len(fields)-1] {
				if src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("COPY source %s: %v", src, err)
				} else if dockerIgnored(ignore, src) {
					t.Errorf("COPY source %s is left out by .dockerignore", src)
				}
			}
		}
	}
	for _, in := range run.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "WORKDIR":
			workdir = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entry); err != nil {
				t.Errorf("ENTRYPOINT %s: want the exec form, a JSON array: %v", in.args, err)
			}
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		t.Errorf("run stage: USER %q, want a non-root user", user)
	}
	if workdir != "/data" {
		t.Errorf("run stage: WORKDIR %q, want /data", workdir)
	}
	if installed == "" || len(entry) != 1 || entry[0] != installed {
		t.Errorf("ENTRYPOINT %q, want [%q], the binary copied from the builder", entry, installed)
	}
	if caps := env["NVIDIA_DRIVER_CAPABILITIES"]; !strings.Contains(caps, "compute") || !strings.Contains(caps, "utility") {
		t.Errorf("NVIDIA_DRIVER_CAPABILITIES=%q, want compute,utility", caps)
	}
	if env["NVIDIA_VISIBLE_DEVICES"] != "all" {
		t.Errorf("NVIDIA_VISIBLE_DEVICES=%q, want all", env["NVIDIA_VISIBLE_DEVICES"])
	}

	checkBuildContext(t, ignore)
}

// checkBuildContext: every file `go build ./cmd/jkonet-gpu` reads in this
// module (sources, assembly, embedded files), and go.mod and go.sum, is in
// the Docker build context.
func checkBuildContext(t *testing.T, ignore []string) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH: the build context check needs `go list`")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=Dir,Module,GoFiles,SFiles,EmbedFiles", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var pkg struct {
			Dir                         string
			Module                      *struct{ Main bool }
			GoFiles, SFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		dir, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(append(pkg.GoFiles, pkg.SFiles...), pkg.EmbedFiles...) {
			needed = append(needed, filepath.ToSlash(filepath.Join(dir, f)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %d files of the build; expected the whole module", len(needed))
	}
	for _, f := range needed {
		if dockerIgnored(ignore, f) {
			t.Errorf("%s is needed by the build but left out by .dockerignore", f)
		}
	}
}
