package launch

// Task is this process's place in a job array: task Index of Count, each
// doing its own share of independent work (preprocess --shard).
type Task struct {
	Index, Count int
	Source       string // the variables it came from, for messages
}

// ArrayTaskFromEnv reads the array task from a Slurm job array
// (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT and
// SLURM_ARRAY_TASK_STEP if set) or a Kubernetes Indexed Job
// (JOB_COMPLETION_INDEX and JKONET_WORLD_SIZE), in that order; ok is false
// when neither is set.
//
// Slurm array ids need not start at 0 (--array=1-8) and may step
// (--array=0-14:2): the index is (id − min)/step, which must be a whole
// number below the count, so an array of scattered ids (--array=1,4,9) is
// refused rather than silently leaving shards out.
func ArrayTaskFromEnv(env func(string) (string, bool)) (task Task, ok bool, err error) {
	r := reader{env: env}
	switch {
	case r.has("SLURM_ARRAY_TASK_ID"):
		id := r.int("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_ID")
		lo := r.int("SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_ID")
		count := r.int("SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID")
		step := 1
		if v, set := env("SLURM_ARRAY_TASK_STEP"); set {
			step = r.parse("SLURM_ARRAY_TASK_STEP", v)
		}
		task = Task{Count: count, Source: "SLURM_ARRAY_TASK_ID"}
		switch {
		case r.err != nil:
		case step < 1:
			r.fail("SLURM_ARRAY_TASK_STEP=%d: expected a step ≥ 1", step)
		case count < 1:
			r.fail("SLURM_ARRAY_TASK_COUNT=%d: expected at least 1 task", count)
		case id < lo || (id-lo)%step != 0 || (id-lo)/step >= count:
			r.fail("SLURM_ARRAY_TASK_ID=%d: expected one of %d ids from SLURM_ARRAY_TASK_MIN=%d in steps of %d (submit --array=0-%d, or pass --shard i/n)", id, count, lo, step, count-1)
		default:
			task.Index = (id - lo) / step
		}
	case r.has("JOB_COMPLETION_INDEX"):
		t := r.ranks(IndexedJob, "JOB_COMPLETION_INDEX", WorldSizeVar, "", false)
		task = Task{Index: t.Rank, Count: t.Size, Source: "JOB_COMPLETION_INDEX"}
	default:
		return Task{}, false, nil
	}
	if r.err != nil {
		return Task{}, false, r.err
	}
	return task, true, nil
}
