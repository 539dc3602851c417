#!/usr/bin/env bash
# Runs `nmflow bench` and the PyTorch reference (bench/pytorch/bench.py) on the same workloads and
# prints nmflow/PyTorch throughput ratios per case. Flags go to both (e.g. --quick, --workloads zoo).
# Environment: GOMLX_BACKEND (nmflow's backend), TORCH_DEVICE (cpu|cuda, default cpu),
# TORCH_THREADS (torch.set_num_threads, default: the machine's cores, nproc, as nmflow uses them
# all; PyTorch's own default may be 1), PYTHON (default /usr/bin/python3),
# BENCH_OUT (folder for the two JSON reports, default _build/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-_build/bench}
threads=${TORCH_THREADS:-$(nproc)}
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out" bin
export GOEXPERIMENT=${GOEXPERIMENT-simd} GOMLX_NO_AUTO_INSTALL=${GOMLX_NO_AUTO_INSTALL:-1}
go build -o bin/nmflow ./nmflow/cmd/nmflow
"$py" -c 'import torch' 2>/dev/null || { echo "bench-compare: $py cannot import torch (apt install python3-torch, or set PYTHON)" >&2; exit 1; }
echo "== nmflow bench $* (GOMLX_BACKEND=${GOMLX_BACKEND:-default})" >&2
bin/nmflow bench --json "$@" >"$out/nmflow.json"
echo "== PyTorch reference $* (device ${TORCH_DEVICE:-cpu}, $threads threads)" >&2
"$py" bench/pytorch/bench.py --device "${TORCH_DEVICE:-cpu}" --threads "$threads" "$@" >"$out/pytorch.json"
echo
bin/nmflow bench --from "$out/nmflow.json" --compare "$out/pytorch.json"
echo "(reports: $out/nmflow.json, $out/pytorch.json; ratio = nmflow / PyTorch throughput, higher is better)"
