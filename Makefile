# Two commands do everything (see README.md):
#   make run    build, then generate a synthetic data set, split it, train, and print the
#               one-step error beside the no-motion and oracle baselines
#   make test   gofmt check, go vet and every test (what .ci/run runs)

GO      ?= go
BIN     := bin/jkonet-gpu
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
RUNDIR  := run

.PHONY: build run test mpi-if-possible fuzz peers mpi clean kernels emulator emulator-test mutants gpu-check gpu-check-build docker docker-test

# CUDA kernels (kernels/, README "GPU"): the .cu sources compile to PTX with
# nvcc (make kernels; the PTX is committed and embedded, so nothing else needs
# the toolkit) and to a CPU emulator with g++ (make emulator), a stand-in
# libcuda that runs the same sources with the threads of a block as fibers.
# Each PTX file starts with the sha256 of its module's sources (the shared
# headers, then the .cu), which a test and the emulator check, and the sha256
# of the PTX after that line, which a test checks.
KERNEL_DIR     := kernels
KERNEL_HEADERS := $(KERNEL_DIR)/jk_cuda.h $(KERNEL_DIR)/philox.cuh
KERNEL_MODULES := selftest step
KERNEL_ARCHS   := 80 90
EMU_LIB        := bin/libcuda-emu.so
NVCC           ?= nvcc
module_hash     = $(shell cat $(KERNEL_HEADERS) $(KERNEL_DIR)/$(1).cu | sha256sum | cut -c1-64)
empty          :=
space          := $(empty) $(empty)
module_hashes   = $(subst $(space),,$(foreach m,$(KERNEL_MODULES),$(m)=$(call module_hash,$(m));))

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jkonet-gpu

# The main job on the embedded default: the styblinski_tang potential in 2-D,
# 2000 particles, 5 steps, the reference's 50/50 trajectory split, the
# `potential` model for the reference's 1000 epochs (about 30 s on 2 cores).
run: build
	@mkdir -p $(RUNDIR)
	$(BIN) generate --potential styblinski_tang --dim 2 --particles 2000 --steps 5 --out $(RUNDIR)/all.npz
	$(BIN) split --data $(RUNDIR)/all.npz --by trajectory --train $(RUNDIR)/train.npz --test $(RUNDIR)/test.npz
	$(BIN) train --data $(RUNDIR)/train.npz --model potential --epochs 1000 --checkpoint-every 0 --out $(RUNDIR)/model.safetensors
	$(BIN) eval --model $(RUNDIR)/model.safetensors --data $(RUNDIR)/test.npz

# The CUDA backend's tests run its kernels on the emulator (they fail rather
# than skip when it is missing), and on the GPU too where one answers.
test: emulator-test mpi-if-possible
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	JKONET_REQUIRE_EMULATOR=1 JKONET_EMULATOR_LIB=$(abspath $(EMU_LIB)) $(GO) test -count=1 ./...
	GO=$(GO) ./scripts/fuzz.sh $(FUZZ_SHORT)

# Every reader's fuzz target (scripts/fuzz.sh finds them): `make test` runs
# each for FUZZ_SHORT executions after replaying the checked-in seeds (a
# count has no deadline to race, golang/go#75804), `make fuzz` for
# FUZZ_SECONDS. A failure leaves its input in the package's
# testdata/fuzz/, which plain `go test` then replays.
FUZZ_SHORT   ?= 1000x
FUZZ_SECONDS ?= 60
fuzz:
	GO=$(GO) ./scripts/fuzz.sh $(FUZZ_SECONDS)

# Optional peers for side-by-side checks and `jkonet-gpu bench` (Debian packages,
# run with /usr/bin/python3). Tests that need them skip when they are absent.
peers:
	apt-get update -qq
	apt-get install -y --no-install-recommends python3-pot python3-sklearn python3-torch python3-anndata python3-h5py

# Open MPI (Debian's openmpi-bin, libopenmpi-dev) for data-parallel training on
# CPU nodes (README "Data-parallel training"); the binary opens libmpi.so.40 at
# run time, and the mpirun tests skip without it.
# make test installs Open MPI where it can (as root), so that the mpirun
# tests run; elsewhere they skip with one line.
mpi-if-possible:
	@$(MAKE) --no-print-directory mpi || echo "Open MPI could not be installed (apt-get needs root): the mpirun tests will skip"

mpi:
	@if command -v mpirun >/dev/null 2>&1 && [ -n "$$(ldconfig -p | grep libmpi.so.40)" ]; then \
	  echo "Open MPI is installed: $$(mpirun --version 2>&1 | head -1)"; \
	else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev; \
	fi

kernels: $(foreach m,$(KERNEL_MODULES),$(foreach a,$(KERNEL_ARCHS),$(KERNEL_DIR)/$(m).sm$(a).ptx)) $(KERNEL_DIR)/step.fatbin

# The training kernels as a fatbin a GPU runs without JIT: SASS for each of
# SASS_ARCHS, and compute_90 PTX for newer GPUs, which the driver compiles.
# Its first-line twin, step.fatbin.hash, holds the sources' sha256 and the
# fatbin's (the emulator runs the PTX, never the fatbin).
SASS_ARCHS := 80 86 89 90
$(KERNEL_DIR)/step.fatbin: $(KERNEL_DIR)/step.cu $(KERNEL_HEADERS)
	$(NVCC) -std=c++17 -O3 -fatbin $(foreach a,$(SASS_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
	  -gencode arch=compute_90,code=compute_90 -I$(KERNEL_DIR) -o $@.tmp $<
	echo "// jkonet-module: step sha256 $(call module_hash,step) fatbin-sha256 $$(sha256sum < $@.tmp | cut -c1-64)" > $@.hash
	mv $@.tmp $@

# PTX for compute capability $(1), headed by the module's source hash; ptxas
# checks that it assembles for sm_$(1) and prints registers, spills and shared
# memory, recorded in NAME.sm$(1).ptxas for a test (engine/cuda) to hold them
# against each kernel's launch.
define ptx_rule
$(KERNEL_DIR)/%.sm$(1).ptx: $(KERNEL_DIR)/%.cu $(KERNEL_HEADERS)
	$$(NVCC) -std=c++17 -O3 -ptx -arch=compute_$(1) -I$(KERNEL_DIR) -o $$@.body $$<
	ptxas -arch=sm_$(1) -v $$@.body -o /dev/null 2> $(KERNEL_DIR)/$$*.sm$(1).ptxas.tmp; \
	  status=$$$$?; sed 's|$$@.body|$$*.sm$(1).ptx|' $(KERNEL_DIR)/$$*.sm$(1).ptxas.tmp; [ $$$$status = 0 ]
	sed 's|$$@.body|$$*.sm$(1).ptx|' $(KERNEL_DIR)/$$*.sm$(1).ptxas.tmp > $(KERNEL_DIR)/$$*.sm$(1).ptxas
	rm -f $(KERNEL_DIR)/$$*.sm$(1).ptxas.tmp
	{ echo "// jkonet-module: $$* sha256 $$(call module_hash,$$*) ptx-sha256 $$$$(sha256sum < $$@.body | cut -c1-64)"; cat $$@.body; } > $$@.tmp
	rm -f $$@.body && mv $$@.tmp $$@
endef
$(foreach a,$(KERNEL_ARCHS),$(eval $(call ptx_rule,$(a))))

emulator: $(EMU_LIB)

# The emulator's own test (kernels/emu/test): barriers, shared memory, launch
# checks, copies and modules through the driver API, on the self-test kernels.
emulator-test: $(EMU_LIB)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -o bin/emu-test kernels/emu/test/emu_test.cpp -ldl -pthread
	EMU_TEST_QUICK=1 bin/emu-test

# Every barrier of kernels/step.cu needed by a test (kernels/emu/mutants.sh):
# an emulator built with one __syncthreads() deleted must fail the parity
# tests in some thread order (forward, reverse, random). About 2 minutes.
mutants:
	GO=$(GO) CXX=$(CXX) ./kernels/emu/mutants.sh

$(EMU_LIB): $(KERNEL_HEADERS) $(KERNEL_MODULES:%=$(KERNEL_DIR)/%.cu) $(wildcard $(KERNEL_DIR)/emu/*)
	@mkdir -p bin
	$(CXX) -std=c++17 -O2 -fPIC -shared -DJKONET_EMULATOR -I$(KERNEL_DIR) \
	  -DJK_MODULE_HASHES='"$(module_hashes)"' \
	  -x c++ $(KERNEL_MODULES:%=$(KERNEL_DIR)/%.cu) -x none $(wildcard $(KERNEL_DIR)/emu/*.cpp $(KERNEL_DIR)/emu/*.S) \
	  -o $@.tmp -pthread
	mv $@.tmp $@

# The GPU checks (scripts/gpu-check.sh): parity against the real libcuda, the
# default problem end to end on the GPU, the CPU-vs-GPU table. gpu-check-build
# builds what the script runs (the binary and the test binaries, all without
# cgo), so a GPU machine without Go can run the script on a copy of the tree.
gpu-check-build: build
	@mkdir -p bin/gpu-check
	CGO_ENABLED=0 $(GO) test -c -ldflags "-s -w" -o bin/gpu-check/driver.test ./kernels/driver
	CGO_ENABLED=0 $(GO) test -c -ldflags "-s -w" -o bin/gpu-check/cuda.test ./engine/cuda
	CGO_ENABLED=0 $(GO) test -c -ldflags "-s -w" -o bin/gpu-check/collective.test ./engine/collective

gpu-check: gpu-check-build
	./scripts/gpu-check.sh

# The container image (Dockerfile.cuda, README "Clusters"): make docker builds
# it, make docker-test builds it and runs it: the version, NCCL and a non-root
# user in the image, then a tiny generate, train and eval on a mounted folder
# (with the GPUs where nvidia-smi answers, else on the CPU).
IMAGE       ?= jkonet-gpu:$(VERSION)
DOCKER      ?= docker
DOCKER_GPUS ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo --gpus all)
DOCKER_RUN   = $(DOCKER) run --rm $(DOCKER_GPUS) --user $$(id -u):$$(id -g) -v $(abspath $(RUNDIR))/docker:/data $(IMAGE)

docker:
	$(DOCKER) build -f Dockerfile.cuda --build-arg VERSION=$(VERSION) -t $(IMAGE) .

docker-test: docker
	$(DOCKER) run --rm $(IMAGE) --version
	$(DOCKER) run --rm --entrypoint sh $(IMAGE) -c 'ldconfig -p | grep -q "libnccl\.so\.2 " && test "$$(id -u)" != 0'
	@mkdir -p $(RUNDIR)/docker
	$(DOCKER_RUN) generate --potential styblinski_tang --dim 2 --particles 200 --steps 3 --out all.npz
	$(DOCKER_RUN) train --data all.npz --model potential --epochs 20 --checkpoint-every 0 --out model.safetensors
	$(DOCKER_RUN) eval --model model.safetensors --data all.npz

clean:
	rm -rf bin $(RUNDIR)
