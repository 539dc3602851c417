# nmflow: `make` (or `make help`) lists the targets. GNU make.
#
#   make demo    install what is missing, build, run every notebook at the default scale
#                (NMFLOW_SCALE=full for the larger runs); prints where the executed notebooks
#                (.ipynb + .html) are
#   make test    what CI runs: go vet, the unit tests (not the torch-tagged one: make test-torch),
#                short fuzzing of the parsers, every notebook at NMFLOW_SCALE=ci, the browser test
#   make lab     Jupyter Notebook with the Go kernel on http://127.0.0.1:$(PORT)

SHELL := /bin/bash
.DEFAULT_GOAL := help
# The install steps share apt's lock: never run targets in parallel.
.NOTPARALLEL:

GO ?= go
PORT ?= 8888
# make lab's address; the Docker images set 0.0.0.0 inside the container (compose publishes it on
# the host's 127.0.0.1 only).
LAB_IP ?= 127.0.0.1
NB_OUT ?= _build/notebooks
DEMO_OUT ?= build/demo
GO_TEST_TIMEOUT ?= 20m

# Every Go invocation (and the notebook kernel, through its kernelspec): GoMLX's pure-Go backend
# is several times faster built with the simd experiment; never let GoMLX download XLA plugins.
# The experiment is used where the toolchain knows it (Go >= 1.26); GoMLX picks AVX-512, AVX2 or
# portable kernels at run time, so a simd build also runs on other CPUs. `make GOEXPERIMENT= ...`
# builds without it.
export PATH := $(PATH):/usr/local/go/bin
ifeq ($(origin GOEXPERIMENT),undefined)
GOEXPERIMENT := $(shell GOEXPERIMENT=simd $(GO) env GOEXPERIMENT >/dev/null 2>&1 && echo simd)
endif
export GOEXPERIMENT
export GOMLX_NO_AUTO_INSTALL := 1
# The project's own Jupyter kernelspecs (git-ignored), shared with scripts/*.sh.
export JUPYTER_DATA_DIR ?= $(CURDIR)/.jupyter

RUN_NOTEBOOKS := bash scripts/run-notebooks.sh

.PHONY: help deps kernel build vet unit notebooks test demo lab bench gobench clean distclean fuzz fuzz-short fuzz-long
.PHONY: test-browser test-torch refresh

help: ## list the targets
	@echo "nmflow make targets:"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'
	@echo "variables: NMFLOW_SCALE=ci (small notebook runs), PORT=$(PORT) (lab), NB_OUT=$(NB_OUT)," \
		"NB_TIMEOUT (s per cell), GOMLX_BACKEND (go, xla:cuda, ...)"

deps: ## system packages: Fashion-MNIST data, NumPy (apt)
	@bash scripts/install-deps.sh

kernel: ## Jupyter (apt) and the GoNB Go kernel, registered in .jupyter/
	@bash scripts/install-gonb.sh

build: ## build bin/nmflow (the CLI)
	$(GO) build -o bin/nmflow ./nmflow/cmd/nmflow

vet: ## go vet
	$(GO) vet ./...

unit: vet ## go vet + unit tests (pure-Go backend; the torch-tagged test runs with make test-torch)
	GOMLX_BACKEND=go $(GO) test -timeout $(GO_TEST_TIMEOUT) ./...

notebooks: kernel ## run every notebook (notebooks/, tutorials/) headless into _build/notebooks (NB_OUT)
	NB_OUT=$(NB_OUT) $(RUN_NOTEBOOKS)

test: deps kernel vet unit fuzz-short ## everything CI checks: vet, unit tests (not test-torch), short fuzzing, notebooks at NMFLOW_SCALE=ci, browser test
	NMFLOW_SCALE=ci NB_OUT=$(NB_OUT) $(RUN_NOTEBOOKS)
	@$(MAKE) --no-print-directory test-browser

demo: deps kernel build ## the main job: run every notebook at the default scale (NMFLOW_SCALE) into build/demo (DEMO_OUT)
	@rc=0; NB_OUT=$(DEMO_OUT) $(RUN_NOTEBOOKS) || rc=$$?; \
	echo; echo "Executed notebooks, with their outputs (open the .html files in a browser):"; \
	find $(DEMO_OUT) -name '*.html' | sort | sed 's/^/  /'; \
	echo "  (the .ipynb next to each opens in Jupyter: make lab)"; \
	exit $$rc

refresh: deps kernel build ## rerun notebooks at the default scale (NB: a list; default all) and, if every one passes, write their outputs back into the committed notebooks
	@mkdir -p $(DEMO_OUT) && touch $(DEMO_OUT)/.refresh-start && \
	NB_OUT=$(DEMO_OUT) $(RUN_NOTEBOOKS) $(NB) && \
	cd $(DEMO_OUT) && for f in $$(find notebooks tutorials -name '*.ipynb' -newer .refresh-start 2>/dev/null); do \
		cp "$$f" "$(CURDIR)/$$f" && echo "refreshed $$f"; done

lab: ## Jupyter Notebook with the Go kernel, serving this repository on 127.0.0.1:8888 (PORT)
	@WITH_LAB=1 bash scripts/install-gonb.sh
	/usr/bin/jupyter notebook --no-browser --ip=$(LAB_IP) --port=$(PORT) --allow-root --notebook-dir=$(CURDIR) \
		--MappingKernelManager.default_kernel_name=gonb

test-torch: ## PyTorch → nmflow → PyTorch round trip (needs python3-torch: apt-get install python3-torch)
	GOMLX_BACKEND=go $(GO) test -tags torch -count=1 -run TestPyTorchRoundTrip ./nmflow/interop

test-browser: ## notebooks/02-quickstart.ipynb through make lab's Jupyter in headless Chromium (NMFLOW_SCALE=ci; screenshot in _build/browser/)
	@bash scripts/browser-test.sh

# Every parser's fuzz target, as package:Function. Each package's instrumented test binary is
# built once (go test -c -fuzz) and run per target, which saves a link per target. A short
# minimization budget keeps a found input from eating a short run. The corpus grows in the Go
# cache ($(go env GOCACHE)/fuzz/<module>/<package>/<target>); a failing input is written to the
# package's testdata/fuzz (commit it: it then runs with the unit tests).
FUZZ_TARGETS := nmflow/data:FuzzParseIDX nmflow/data:FuzzParseCIFAR nmflow/data:FuzzGunzip nmflow/data:FuzzHeartUCI \
	nmflow/traj:FuzzSafetensors nmflow/traj:FuzzTrajectory \
	nmflow/interop:FuzzPickle nmflow/interop:FuzzTorch nmflow/interop:FuzzNpy nmflow/interop:FuzzNpz
FUZZ_SHORT ?= 5s
FUZZ_TIME ?= 2m
FUZZ_LONG ?= 10m
define run-fuzz
	@set -e; mkdir -p _build/fuzz; cache=$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m); built=""; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; bin=$(CURDIR)/_build/fuzz/$$(basename $$pkg).test; \
		case " $$built " in *" $$pkg "*) ;; *) $(GO) test -c -fuzz . -o $$bin ./$$pkg; built="$$built $$pkg";; esac; \
		echo "== fuzz $$pkg $$fn for $(1)"; log=$(CURDIR)/_build/fuzz/$$fn.log; \
		for try in 1 2; do rc=0; \
			(cd $$pkg && GOMLX_BACKEND=go $$bin -test.run '^$$' -test.fuzz "^$$fn\$$" -test.fuzztime $(1) \
				-test.fuzzminimizetime 100x -test.fuzzcachedir $$cache/$$pkg) >$$log 2>&1 || rc=$$?; \
			grep -E '^(fuzz: elapsed: [0-9]+s, execs|---|FAIL|PASS|panic|\s+Failing input)' $$log | \
				sed 's/ ([0-9]*\/sec)//' | uniq | tail -3; \
			[ $$rc -eq 0 ] && break; \
			echo "fuzz $$fn failed (exit $$rc); the end of its output ($$log):"; tail -25 $$log; \
			if grep -q 'Failing input written' $$log || [ $$try -eq 2 ]; then exit 1; fi; \
			echo "no failing input was written (the fuzzing engine failed, not the parser): once more"; \
		done; \
	done
endef

fuzz: ## fuzz every parser for FUZZ_TIME each (default 2m); prints execs and corpus size
	$(call run-fuzz,$(FUZZ_TIME))

fuzz-short: ## fuzz every parser for FUZZ_SHORT each (default 5s): the pass CI runs
	$(call run-fuzz,$(FUZZ_SHORT))

fuzz-long: ## fuzz every parser for FUZZ_LONG each (default 10m, 1h40 for all ten): before a release, never in CI
	$(call run-fuzz,$(FUZZ_LONG))

bench: ## nmflow bench against PyTorch (OpenBLAS, all cores): BENCH_ROUNDS interleaved rounds (default 3), medians, ratios, roofline, checks; BENCH_FLAGS, e.g. --quick; docs/bench.md
	@bash scripts/install-deps.sh --bench
	@bash scripts/bench-compare.sh $(BENCH_FLAGS)

gobench: ## Go micro-benchmarks of the library (go test -bench)
	$(GO) test -run '^$$' -bench . ./nmflow/...

clean: ## remove build outputs and executed notebooks
	rm -rf bin _build build

distclean: clean ## also remove the project's kernelspec (.jupyter/)
	rm -rf .jupyter
