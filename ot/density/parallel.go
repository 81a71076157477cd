package density

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// blockSize is the number of points per work unit. Partial sums are kept per
// block and reduced in block order, so results do not depend on the number of
// workers.
const blockSize = 256

// numBlocks is the number of blocks covering n points.
func numBlocks(n int) int { return (n + blockSize - 1) / blockSize }

// workerCount is the number of goroutines to use for n points: requested if
// positive, else GOMAXPROCS, and never more than the number of blocks.
func workerCount(requested, n int) int {
	w := requested
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return max(1, min(w, numBlocks(n)))
}

// forEachBlock calls fn(worker, block, lo, hi) for each block [lo, hi) of
// blockSize consecutive points of [0, n), spread over workers goroutines;
// worker ∈ [0, workers) identifies the goroutine, for per-worker scratch.
func forEachBlock(n, workers int, fn func(worker, block, lo, hi int)) {
	nb := numBlocks(n)
	if workers <= 1 || nb <= 1 {
		for b := 0; b < nb; b++ {
			fn(0, b, b*blockSize, min(n, (b+1)*blockSize))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= nb {
					return
				}
				fn(w, b, b*blockSize, min(n, (b+1)*blockSize))
			}
		}()
	}
	wg.Wait()
}
