package launch

import (
	"strings"
	"testing"
)

// envOf turns "K=V" pairs into a lookup like os.LookupEnv.
func envOf(pairs ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want Topology
	}{
		{"none", nil, Topology{Size: 1, Launcher: Single}},
		{"torchrun", []string{"RANK=3", "WORLD_SIZE=8", "LOCAL_RANK=1", "MASTER_ADDR=10.0.0.5", "MASTER_PORT=29400"},
			Topology{Rank: 3, Size: 8, LocalRank: 1, Coordinator: "10.0.0.5:29400", Launcher: Torchrun}},
		{"pytorchjob: no LOCAL_RANK, no MASTER_PORT", []string{"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=job-master-0"},
			Topology{Rank: 1, Size: 2, Coordinator: "job-master-0:29500", Launcher: Torchrun}},
		{"mpirun", []string{"OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=2"},
			Topology{Rank: 2, Size: 4, LocalRank: 2, Launcher: Mpirun}},
		{"mpirun in a Slurm batch script: Open MPI wins",
			[]string{"SLURM_PROCID=0", "SLURM_NTASKS=4", "SLURM_LOCALID=0", "SLURM_STEP_NODELIST=n1", "OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=1"},
			Topology{Rank: 3, Size: 4, LocalRank: 1, Launcher: Mpirun}},
		{"srun", []string{"SLURM_PROCID=5", "SLURM_NTASKS=8", "SLURM_LOCALID=1", "SLURM_STEP_NODELIST=gpu[03-06],cpu1", "SLURM_JOB_ID=1234567"},
			Topology{Rank: 5, Size: 8, LocalRank: 1, Coordinator: "gpu03:19567", Launcher: Srun}},
		{"srun: the step's task count over the job's", []string{"SLURM_PROCID=1", "SLURM_NTASKS=16", "SLURM_STEP_NUM_TASKS=2", "SLURM_LOCALID=1", "SLURM_STEP_NODELIST=a"},
			Topology{Rank: 1, Size: 2, LocalRank: 1, Coordinator: "a:29500", Launcher: Srun}},
		{"srun with MASTER_ADDR exported", []string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_LOCALID=0", "SLURM_STEP_NODELIST=n[1-2]", "MASTER_ADDR=n2", "MASTER_PORT=1234"},
			Topology{Size: 2, Coordinator: "n2:1234", Launcher: Srun}},
		{"a batch script run directly is one process", []string{"SLURM_PROCID=0", "SLURM_NTASKS=4", "SLURM_JOB_NODELIST=n[1-4]"},
			Topology{Size: 1, Launcher: Single}},
		{"torchrun inside srun: torchrun wins", []string{"SLURM_PROCID=1", "SLURM_NTASKS=2", "SLURM_LOCALID=0", "SLURM_STEP_NODELIST=n[1-2]", "RANK=7", "WORLD_SIZE=8", "LOCAL_RANK=3", "MASTER_ADDR=n1", "MASTER_PORT=29500"},
			Topology{Rank: 7, Size: 8, LocalRank: 3, Coordinator: "n1:29500", Launcher: Torchrun}},
		{"indexed job", []string{"JOB_COMPLETION_INDEX=3", "JKONET_WORLD_SIZE=4", "MASTER_ADDR=train-0.train", "MASTER_PORT=29500"},
			Topology{Rank: 3, Size: 4, Coordinator: "train-0.train:29500", Launcher: IndexedJob}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromEnv(envOf(c.env...))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestFromEnvMalformed: each bad value is refused with one line naming the
// variable.
func TestFromEnvMalformed(t *testing.T) {
	srun := func(extra ...string) []string {
		return append([]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_LOCALID=0", "SLURM_STEP_NODELIST=n1"}, extra...)
	}
	for _, c := range []struct {
		env  []string
		want string // the error's exact text
	}{
		{[]string{"RANK=x", "WORLD_SIZE=2"}, `RANK="x": expected an integer ≥ 0`},
		{[]string{"RANK=-1", "WORLD_SIZE=2"}, `RANK="-1": expected an integer ≥ 0`},
		{[]string{"RANK=2", "WORLD_SIZE=2"}, `RANK=2: expected a rank below WORLD_SIZE=2`},
		{[]string{"RANK=0", "WORLD_SIZE=0"}, `WORLD_SIZE=0: expected at least 1 rank`},
		{[]string{"RANK=0"}, `RANK is set but WORLD_SIZE is not: expected both`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "LOCAL_RANK=2"}, `LOCAL_RANK=2: expected a local rank below WORLD_SIZE=2`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "LOCAL_RANK="}, `LOCAL_RANK="": expected an integer ≥ 0`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=http"}, `MASTER_PORT="http": expected an integer ≥ 0`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=70000"}, `MASTER_PORT="70000": expected a port in 1..65535`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR="}, `MASTER_ADDR is empty: expected the host of rank 0`},
		{[]string{"OMPI_COMM_WORLD_RANK=4", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=0"}, `OMPI_COMM_WORLD_RANK=4: expected a rank below OMPI_COMM_WORLD_SIZE=4`},
		{[]string{"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=four", "OMPI_COMM_WORLD_LOCAL_RANK=0"}, `OMPI_COMM_WORLD_SIZE="four": expected an integer ≥ 0`},
		{[]string{"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=4"}, `OMPI_COMM_WORLD_RANK is set but OMPI_COMM_WORLD_LOCAL_RANK is not: expected both from mpirun`},
		{srun("SLURM_PROCID=9"), `SLURM_PROCID=9: expected a rank below SLURM_NTASKS=2`},
		{srun("SLURM_LOCALID=1.5"), `SLURM_LOCALID="1.5": expected an integer ≥ 0`},
		{srun("SLURM_STEP_NODELIST="), `SLURM_STEP_NODELIST="": expected a host list, got an empty one`},
		{srun("SLURM_STEP_NODELIST=node[01-04"), `SLURM_STEP_NODELIST="node[01-04": host "node[01-04": '[' without its ']'`},
		{srun("SLURM_STEP_NODELIST=node01-04]"), `SLURM_STEP_NODELIST="node01-04]": host "node01-04]": ']' without '['`},
		{srun("SLURM_STEP_NODELIST=node[a-b]"), `SLURM_STEP_NODELIST="node[a-b]": host "node[a-b]": [a-b]: expected numbers or lo-hi ranges, got "a-b"`},
		{srun("SLURM_STEP_NODELIST=node[]"), `SLURM_STEP_NODELIST="node[]": host "node[]": []: expected numbers or lo-hi ranges, got ""`},
		{srun("SLURM_STEP_NODELIST=node[10-9]"), `SLURM_STEP_NODELIST="node[10-9]": host "node[10-9]": [10-9]: range "10-9" runs backwards`},
		{srun("SLURM_STEP_NODELIST=n1,,n2"), `SLURM_STEP_NODELIST="n1,,n2": empty host name between commas`},
		{srun("SLURM_JOB_ID=abc"), `SLURM_JOB_ID="abc": expected an integer ≥ 0`},
		{[]string{"SLURM_STEP_NODELIST=n1", "SLURM_NTASKS=2", "SLURM_LOCALID=0"}, `SLURM_NTASKS is set but SLURM_PROCID is not: expected both`},
		{[]string{"JOB_COMPLETION_INDEX=0"}, `JOB_COMPLETION_INDEX is set but JKONET_WORLD_SIZE is not: expected both`},
		{[]string{"JOB_COMPLETION_INDEX=4", "JKONET_WORLD_SIZE=4"}, `JOB_COMPLETION_INDEX=4: expected a rank below JKONET_WORLD_SIZE=4`},
	} {
		_, err := FromEnv(envOf(c.env...))
		if err == nil {
			t.Errorf("%v: accepted", c.env)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.env, err, c.want)
		}
	}
}

func TestFirstHost(t *testing.T) {
	for list, want := range map[string]string{
		"node01":                   "node01",
		"node[01-04,07],gpu3":      "node01",
		"gpu3,node[01-04]":         "gpu3",
		"node[7,01-04]":            "node7",
		"rack[1-2]-n[08-09]":       "rack1-n08",
		"n[0009-0010]":             "n0009",
		"a.example.org,b":          "a.example.org",
		"node[1-2],other[3-4,6],x": "node1",
	} {
		got, err := FirstHost(list)
		if err != nil || got != want {
			t.Errorf("FirstHost(%q) = %q, %v; want %q", list, got, err, want)
		}
	}
	for _, bad := range []string{"", " ", "n[1-2]]", "n[[1]]", "n[1-]", "n[-1]", "n[1,]", "a,", "n[99999999999]"} {
		if host, err := FirstHost(bad); err == nil {
			t.Errorf("FirstHost(%q) = %q, accepted", bad, host)
		}
	}
}

func TestDevice(t *testing.T) {
	for _, c := range []struct {
		local, visible, want int
		err                  string
	}{
		{0, 1, 0, ""}, {3, 1, 0, ""}, // one GPU per task (--gpus-per-task=1)
		{0, 4, 0, ""}, {3, 4, 3, ""},
		{4, 4, 0, "local rank 4 but only 4 GPUs are visible"},
		{0, 0, 0, "no GPU is visible"},
	} {
		got, err := Topology{Rank: c.local, Size: 8, LocalRank: c.local, Launcher: Srun}.Device(c.visible)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("local rank %d, %d GPUs: got %d, %v; want %d", c.local, c.visible, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("local rank %d, %d GPUs: got %d, %v; want an error with %q", c.local, c.visible, got, err, c.err)
		}
	}
}

func TestArrayTaskFromEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want Task
		ok   bool
	}{
		{"none", nil, Task{}, false},
		{"slurm from 0", []string{"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=3"}, Task{2, 3, "SLURM_ARRAY_TASK_ID"}, true},
		{"slurm from 1", []string{"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=3"}, Task{0, 3, "SLURM_ARRAY_TASK_ID"}, true},
		{"slurm stepped", []string{"SLURM_ARRAY_TASK_ID=14", "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_STEP=2"}, Task{2, 3, "SLURM_ARRAY_TASK_ID"}, true},
		{"indexed job", []string{"JOB_COMPLETION_INDEX=1", "JKONET_WORLD_SIZE=3"}, Task{1, 3, "JOB_COMPLETION_INDEX"}, true},
		{"slurm over indexed", []string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=2", "JOB_COMPLETION_INDEX=1", "JKONET_WORLD_SIZE=3"}, Task{0, 2, "SLURM_ARRAY_TASK_ID"}, true},
	} {
		got, ok, err := ArrayTaskFromEnv(envOf(c.env...))
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("%s: got %+v, %v, %v; want %+v, %v", c.name, got, ok, err, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=3"},
			"SLURM_ARRAY_TASK_ID=5: expected one of 3 ids from SLURM_ARRAY_TASK_MIN=1 in steps of 1 (submit --array=0-2, or pass --shard i/n)"},
		{[]string{"SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_STEP=2"},
			"SLURM_ARRAY_TASK_ID=3: expected one of 3 ids from SLURM_ARRAY_TASK_MIN=0 in steps of 2 (submit --array=0-2, or pass --shard i/n)"},
		{[]string{"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=3"}, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN is not: expected both"},
		{[]string{"SLURM_ARRAY_TASK_ID=x", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=3"}, `SLURM_ARRAY_TASK_ID="x": expected an integer ≥ 0`},
		{[]string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=0"}, "SLURM_ARRAY_TASK_COUNT=0: expected at least 1 task"},
		{[]string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=2", "SLURM_ARRAY_TASK_STEP=0"}, "SLURM_ARRAY_TASK_STEP=0: expected a step ≥ 1"},
		{[]string{"JOB_COMPLETION_INDEX=2"}, "JOB_COMPLETION_INDEX is set but JKONET_WORLD_SIZE is not: expected both"},
		{[]string{"JOB_COMPLETION_INDEX=2", "JKONET_WORLD_SIZE=x"}, `JKONET_WORLD_SIZE="x": expected an integer ≥ 0`},
	} {
		_, _, err := ArrayTaskFromEnv(envOf(c.env...))
		if err == nil || err.Error() != c.want {
			t.Errorf("%v:\n got %v\nwant %s", c.env, err, c.want)
		}
	}
}
