# Two commands do everything (see README.md):
#   make run    build, then generate a synthetic data set, split it, train, and print the
#               one-step error beside the no-motion and oracle baselines
#   make test   gofmt check, go vet and every test (what .ci/run runs)

GO      ?= go
BIN     := bin/jkonet-gpu
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
RUNDIR  := run

.PHONY: build run test peers clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jkonet-gpu

# The main job on the embedded default: the styblinski_tang potential in 2-D,
# 2000 particles, 5 steps, the reference's 50/50 trajectory split, the
# `potential` model for the reference's 1000 epochs (about 30 s on 2 cores).
run: build
	@mkdir -p $(RUNDIR)
	$(BIN) generate --potential styblinski_tang --dim 2 --particles 2000 --steps 5 --out $(RUNDIR)/all.npz
	$(BIN) split --data $(RUNDIR)/all.npz --by trajectory --train $(RUNDIR)/train.npz --test $(RUNDIR)/test.npz
	$(BIN) train --data $(RUNDIR)/train.npz --model potential --epochs 1000 --checkpoint-every 0 --out $(RUNDIR)/model.safetensors
	$(BIN) eval --model $(RUNDIR)/model.safetensors --data $(RUNDIR)/test.npz

test:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Optional peers for side-by-side checks and `jkonet-gpu bench` (Debian packages,
# run with /usr/bin/python3). Tests that need them skip when they are absent.
peers:
	apt-get update -qq
	apt-get install -y --no-install-recommends python3-pot python3-sklearn python3-torch python3-anndata python3-h5py

clean:
	rm -rf bin $(RUNDIR)
