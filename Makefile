# nmflow: `make` (or `make help`) lists the targets. GNU make.
#
#   make demo    install what is missing, build, run every notebook at full scale; prints where
#                the executed notebooks (.ipynb + .html) are
#   make test    what CI runs: go vet, unit tests, every notebook at NMFLOW_SCALE=ci
#   make lab     Jupyter Notebook with the Go kernel on http://127.0.0.1:$(PORT)

SHELL := /bin/bash
.DEFAULT_GOAL := help
# The install steps share apt's lock: never run targets in parallel.
.NOTPARALLEL:

GO ?= go
PORT ?= 8888
NB_OUT ?= _build/notebooks
DEMO_OUT ?= build/demo
GO_TEST_TIMEOUT ?= 20m

# Every Go invocation (and the notebook kernel, through its kernelspec): GoMLX's pure-Go backend
# is several times faster built with the simd experiment; never let GoMLX download XLA plugins.
export PATH := $(PATH):/usr/local/go/bin
export GOEXPERIMENT := simd
export GOMLX_NO_AUTO_INSTALL := 1
# The project's own Jupyter kernelspecs (git-ignored), shared with scripts/*.sh.
export JUPYTER_DATA_DIR ?= $(CURDIR)/.jupyter

RUN_NOTEBOOKS := bash scripts/run-notebooks.sh

.PHONY: help deps kernel build vet unit notebooks test demo lab bench clean distclean

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

unit: vet ## go vet + unit tests (pure-Go backend)
	GOMLX_BACKEND=go $(GO) test -timeout $(GO_TEST_TIMEOUT) ./...

notebooks: kernel ## run every notebook (notebooks/, tutorials/) headless into _build/notebooks (NB_OUT)
	NB_OUT=$(NB_OUT) $(RUN_NOTEBOOKS)

test: deps kernel vet unit ## everything CI checks: vet, unit tests, notebooks at NMFLOW_SCALE=ci
	NMFLOW_SCALE=ci NB_OUT=$(NB_OUT) $(RUN_NOTEBOOKS)

demo: deps kernel build ## the main job: run every notebook at full scale into build/demo (DEMO_OUT)
	@rc=0; NB_OUT=$(DEMO_OUT) $(RUN_NOTEBOOKS) || rc=$$?; \
	echo; echo "Executed notebooks, with their outputs (open the .html files in a browser):"; \
	find $(DEMO_OUT) -name '*.html' | sort | sed 's/^/  /'; \
	echo "  (the .ipynb next to each opens in Jupyter: make lab)"; \
	exit $$rc

lab: ## Jupyter Notebook with the Go kernel, serving this repository on 127.0.0.1:8888 (PORT)
	@WITH_LAB=1 bash scripts/install-gonb.sh
	/usr/bin/jupyter notebook --no-browser --ip=127.0.0.1 --port=$(PORT) --allow-root --notebook-dir=$(CURDIR) \
		--MappingKernelManager.default_kernel_name=gonb

bench: ## Go benchmarks of the library
	$(GO) test -run '^$$' -bench . ./nmflow/...

clean: ## remove build outputs and executed notebooks
	rm -rf bin _build build

distclean: clean ## also remove the project's kernelspec (.jupyter/)
	rm -rf .jupyter
