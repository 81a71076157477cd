package collective_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
)

// agreeOn runs Agree on n in-process ranks, rank r with fp(r), and returns
// each rank's error.
func agreeOn(n int, fp func(r int) []collective.Field) []error {
	ranks := collectivetest.Group(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = collective.Agree(c, fp(r))
		}()
	}
	wg.Wait()
	return errs
}

// TestAgree: ranks with the same fingerprint agree; otherwise every rank
// returns the same line naming the first field where the first rank that
// differs from rank 0 does, with both values, whatever the lengths of the
// fingerprints (a missing field included).
func TestAgree(t *testing.T) {
	base := func(int) []collective.Field {
		return []collective.Field{{"version", "v1"}, {"data sha256", "abc"}, {"--lr", "0.001"}, {"network sizes", "V 2-64-64-1"}}
	}
	for _, err := range agreeOn(4, base) {
		if err != nil {
			t.Fatalf("equal fingerprints: %v", err)
		}
	}
	for _, c := range []struct {
		name string
		fp   func(r int) []collective.Field
		want string
	}{
		{"data on ranks 2 and 3", func(r int) []collective.Field {
			fp := base(r)
			if r >= 2 {
				fp[1].Value = fmt.Sprintf("def%d", r)
			}
			return fp
		}, "the ranks disagree on data sha256: rank 0 has abc, rank 2 has def2"},
		{"a longer fingerprint on rank 1", func(r int) []collective.Field {
			fp := base(r)
			if r == 1 {
				fp[2].Value = "0.1000000000000000000000000000000001"
			}
			return fp
		}, "the ranks disagree on --lr: rank 0 has 0.001, rank 1 has 0.1000000000000000000000000000000001"},
		{"a field rank 3 lacks", func(r int) []collective.Field {
			fp := base(r)
			if r == 3 {
				fp = fp[:3]
			}
			return fp
		}, "the ranks disagree on network sizes: rank 0 has V 2-64-64-1, rank 3 has (none)"},
	} {
		errs := agreeOn(4, c.fp)
		for r, err := range errs {
			var d *collective.DisagreeError
			if !errors.As(err, &d) || err.Error() != c.want+"; launch every rank with the same build, data and training flags" {
				t.Errorf("%s: rank %d: %v, want %q", c.name, r, err, c.want)
			}
		}
	}
}
