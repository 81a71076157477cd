package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// The cluster examples (examples/, README "Clusters") cannot run here: no
// Slurm, no Kubernetes. These tests check what can go stale without them:
// the scripts parse, every jkonet-gpu command line names flags the command
// has, and the manifests agree with themselves and with package launch.

// checkCommandLine checks the jkonet-gpu command lines in text (shell: lines
// joined at backslashes) against the CLI: the command exists and takes
// every --flag given. It returns the command names seen.
func checkCommandLine(t *testing.T, where, text string, commands map[string]*cli.Command) []string {
	t.Helper()
	text = strings.ReplaceAll(text, "\\\n", " ")
	var seen []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range regexp.MustCompile(`(?:^|[\s"'(])jkonet-gpu\s+(\S.*)`).FindAllStringSubmatch(line, -1) {
			fields := strings.Fields(m[1])
			name := strings.Trim(fields[0], `"'`)
			if !checkFlags(t, where, name, fields[1:], commands) {
				continue
			}
			seen = append(seen, name)
		}
	}
	return seen
}

// checkFlags checks one command's arguments; false if it is no command.
func checkFlags(t *testing.T, where, name string, args []string, commands map[string]*cli.Command) bool {
	t.Helper()
	cmd := commands[name]
	if cmd == nil {
		t.Errorf("%s: jkonet-gpu %s: no such command", where, name)
		return false
	}
	flags := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			flags[n] = true
		}
	}
	for _, a := range args {
		a = strings.Trim(a, `"',`)
		if strings.HasPrefix(a, "--") {
			if flag, _, _ := strings.Cut(a[2:], "="); !flags[flag] {
				t.Errorf("%s: jkonet-gpu %s has no flag --%s", where, name, flag)
			}
		}
	}
	return true
}

func cliCommands() map[string]*cli.Command {
	commands := map[string]*cli.Command{}
	for _, c := range newApp(io.Discard, io.Discard).Commands {
		commands[c.Name] = c
	}
	return commands
}

func TestSlurmExamples(t *testing.T) {
	dir := filepath.Join(repoRoot, "examples", "slurm")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 4 {
		t.Fatalf("examples/slurm: %d files, want the preprocess, merge and train jobs and submit.sh", len(files))
	}
	bash, bashErr := exec.LookPath("bash")
	text := map[string]string{}
	commands := cliCommands()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		text[name] = string(b)
		if bashErr == nil {
			if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", name, err, out)
			}
		}
		checkCommandLine(t, name, string(b), commands)
	}
	if bashErr != nil {
		t.Log("no bash: the scripts' syntax is not checked")
	}
	for _, c := range []struct{ file, want string }{
		{"preprocess.sbatch", "#SBATCH --array=0-"},
		{"preprocess.sbatch", "--shard auto"},
		{"merge.sbatch", "preprocess --merge"},
		{"train.sbatch", "#SBATCH --gpus-per-task=1"},
		{"train.sbatch", "srun jkonet-gpu train"},
		{"submit.sh", "--dependency=afterok:\"$array\" merge.sbatch"},
		{"submit.sh", "--dependency=afterok:\"$merge\" train.sbatch"},
	} {
		if !strings.Contains(text[c.file], c.want) {
			t.Errorf("examples/slurm/%s: no %q", c.file, c.want)
		}
	}
}

// k8sObject is the part of a manifest the checks read.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		ClusterIP      string `json:"clusterIP"`
		Selector       map[string]string
		CompletionMode string `json:"completionMode"`
		Completions    int
		Parallelism    int
		Template       struct {
			Spec struct {
				Subdomain       string
				SecurityContext struct {
					RunAsUser int `json:"runAsUser"`
				} `json:"securityContext"`
				Containers []struct {
					Command, Args []string
					Env           []struct{ Name, Value string }
					Resources     struct{ Limits map[string]any }
				}
			}
		}
	}
}

// TestKubernetesExamples parses the manifests with Debian's python3-yaml
// (the Go module has no YAML parser) and checks them: every Indexed Job sets
// JKONET_WORLD_SIZE to its completions and runs them all at once; the
// training Job's MASTER_ADDR is its pod 0 behind its headless Service, each
// pod has one GPU; the pods run as the image's user; and the jkonet-gpu
// command lines name existing flags.
func TestKubernetesExamples(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import yaml").Run()
	}
	if err != nil {
		t.Skip("no python3 with yaml (apt-get install python3-yaml): the Kubernetes manifests are not checked")
	}
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile.cuda"))
	if err != nil {
		t.Fatal(err)
	}
	imageUser := regexp.MustCompile(`(?m)^USER (\d+)`).FindSubmatch(dockerfile)
	if imageUser == nil {
		t.Fatal("Dockerfile.cuda: no numeric USER")
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "kubernetes", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("examples/kubernetes: %d manifests, want the preprocessing and training Indexed Jobs", len(files))
	}
	out, err := exec.Command(python, append([]string{"-c", "import json, sys, yaml; print(json.dumps([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]))"}, files...)...).Output()
	if err != nil {
		t.Fatalf("examples/kubernetes: not YAML: %v", err)
	}
	var manifests [][]k8sObject
	if err := json.Unmarshal(out, &manifests); err != nil {
		t.Fatal(err)
	}
	commands := cliCommands()
	indexed := 0
	for i, objects := range manifests {
		name := filepath.Base(files[i])
		services := map[string]k8sObject{}
		for _, o := range objects {
			if o.Kind == "Service" {
				services[o.Metadata.Name] = o
			}
		}
		for _, o := range objects {
			if o.Kind != "Job" {
				continue
			}
			pod := o.Spec.Template.Spec
			if got := strconv.Itoa(pod.SecurityContext.RunAsUser); got != string(imageUser[1]) {
				t.Errorf("%s: runAsUser %s, but the image's USER is %s", name, got, imageUser[1])
			}
			for _, c := range pod.Containers {
				env := map[string]string{}
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
				if len(c.Command) > 0 {
					checkCommandLine(t, name, strings.Join(c.Args, "\n"), commands)
				} else if len(c.Args) > 0 {
					checkFlags(t, name, c.Args[0], c.Args[1:], commands)
				}
				if o.Spec.CompletionMode != "Indexed" {
					continue
				}
				indexed++
				if o.Spec.Parallelism != o.Spec.Completions || env["JKONET_WORLD_SIZE"] != strconv.Itoa(o.Spec.Completions) {
					t.Errorf("%s: completions %d, parallelism %d, JKONET_WORLD_SIZE %q: want all equal", name, o.Spec.Completions, o.Spec.Parallelism, env["JKONET_WORLD_SIZE"])
				}
				if len(c.Args) == 0 || c.Args[0] != "train" {
					continue
				}
				svc, ok := services[pod.Subdomain]
				if want := o.Metadata.Name + "-0." + pod.Subdomain; !ok || env["MASTER_ADDR"] != want || svc.Spec.ClusterIP != "None" || svc.Spec.Selector["job-name"] != o.Metadata.Name {
					t.Errorf("%s: MASTER_ADDR %q, subdomain %q: want %s behind a headless Service %q selecting job-name %s", name, env["MASTER_ADDR"], pod.Subdomain, want, pod.Subdomain, o.Metadata.Name)
				}
				if gpus := c.Resources.Limits["nvidia.com/gpu"]; gpus != float64(1) {
					t.Errorf("%s: nvidia.com/gpu limit %v, want 1 per rank", name, gpus)
				}
			}
		}
	}
	if indexed < 2 {
		t.Errorf("examples/kubernetes: %d Indexed Jobs, want preprocessing and training", indexed)
	}
}

// TestReadmeClusterCommands: the command lines in the code blocks of the
// README's "Clusters" section name flags the commands have.
func TestReadmeClusterCommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Clusters\n")
	if !ok {
		t.Fatal(`README.md: no "## Clusters" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	var seen []string
	for _, b := range blocks {
		seen = append(seen, checkCommandLine(t, "README.md", b[1], cliCommands())...)
	}
	if len(seen) < 2 {
		t.Errorf("README.md Clusters: %d jkonet-gpu command lines checked (%v), want the merge and the srun lines", len(seen), seen)
	}
}
