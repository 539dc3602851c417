#!/usr/bin/env bash
# Runs `nmflow bench` and the PyTorch reference (bench/pytorch/bench.py) on the same workloads in
# BENCH_ROUNDS interleaved rounds (nmflow, PyTorch, nmflow, PyTorch, ...) and prints one report:
# per case the median and min–max over rounds of both sides, the ratio of the medians, achieved
# GFLOP/s against each side's measured GEMM peak (eval, sample), and whether the two sides' check
# values agree. It exits non-zero when the comparison is not fair or not checked (check values
# that disagree, PyTorch on fewer threads or on the reference BLAS, a recompiling graph, a case one
# side lacks). Flags go to both (e.g. --quick, --workloads zoo, --iters 5).
# Environment: BENCH_ROUNDS (default 3), GOMLX_BACKEND (nmflow's backend), TORCH_DEVICE (cpu|cuda,
# default cpu), TORCH_THREADS (torch.set_num_threads, default: the machine's cores, nproc, as
# nmflow uses them all; PyTorch's own default may be 1), TORCH_ALLOW_REFERENCE_BLAS=1 (measure on
# the reference BLAS anyway; the report is marked), PYTHON (default /usr/bin/python3), BENCH_OUT
# (folder for the reports, default _build/bench: nmflow-N.json, pytorch-N.json per round,
# report.md, summary.json).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-_build/bench}
rounds=${BENCH_ROUNDS:-3}
threads=${TORCH_THREADS:-$(nproc)}
py=${PYTHON:-/usr/bin/python3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench-compare: BENCH_ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "bench-compare: TORCH_THREADS must be a positive integer, got '$threads'" >&2; exit 2; }
torch_flags=()
[ "${TORCH_ALLOW_REFERENCE_BLAS:-}" = 1 ] && torch_flags+=(--allow-reference-blas)
mkdir -p "$out" bin
rm -f "$out"/nmflow-*.json "$out"/pytorch-*.json "$out"/report.md "$out"/summary.json
export GOEXPERIMENT=${GOEXPERIMENT-simd} GOMLX_NO_AUTO_INSTALL=${GOMLX_NO_AUTO_INSTALL:-1}
go build -o bin/nmflow ./nmflow/cmd/nmflow
"$py" -c 'import torch' 2>/dev/null || { echo "bench-compare: $py cannot import torch (bash scripts/install-deps.sh --bench, or set PYTHON)" >&2; exit 1; }
ours=() refs=()
for r in $(seq 1 "$rounds"); do
  echo "== round $r/$rounds: nmflow bench $* (GOMLX_BACKEND=${GOMLX_BACKEND:-default})" >&2
  bin/nmflow bench --json "$@" >"$out/nmflow-$r.json"
  echo "== round $r/$rounds: PyTorch reference $* (device ${TORCH_DEVICE:-cpu}, $threads threads)" >&2
  # PyTorch's fit follows the recipe and default net nmflow's report names (flow's defaults now).
  "$py" bench/pytorch/bench.py --device "${TORCH_DEVICE:-cpu}" --threads "$threads" --nmflow-report "$out/nmflow-$r.json" \
    ${torch_flags[@]+"${torch_flags[@]}"} "$@" >"$out/pytorch-$r.json"
  ours+=("$out/nmflow-$r.json") refs+=("$out/pytorch-$r.json")
done
join() { local IFS=,; echo "$*"; }
echo
status=0
bin/nmflow bench --from "$(join "${ours[@]}")" --compare "$(join "${refs[@]}")" >"$out/report.md" || status=$?
cat "$out/report.md"
bin/nmflow bench --from "$(join "${ours[@]}")" --compare "$(join "${refs[@]}")" --json >"$out/summary.json" 2>/dev/null || true
echo "(reports: $out/report.md, $out/summary.json, $out/nmflow-N.json, $out/pytorch-N.json; ratio = nmflow / PyTorch throughput, higher is better)"
exit "$status"
