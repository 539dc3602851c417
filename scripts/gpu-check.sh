#!/usr/bin/env bash
# GPU check: runs the bench suite on GoMLX's xla:cuda backend and the PyTorch reference on CUDA,
# and prints both with their ratios. Fails early and clearly when nvidia-smi, a GPU, JAX's CUDA
# PJRT plugin or CUDA PyTorch is missing. Flags go to both benches (e.g. --quick).
# The plugin is looked for where nmflow/backend looks (README, GPU): PJRT_PLUGIN_LIBRARY_PATH,
# ~/.local/lib/go-xla, /usr/local/lib/go-xla, and JAX's site-packages/jax_plugins/xla_cuda*.
# Environment: PJRT_PLUGIN_LIBRARY_PATH,
# NVIDIA_SMI (default nvidia-smi), PYTHON (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "gpu-check: $*" >&2; exit 1; }
smi=${NVIDIA_SMI:-nvidia-smi}
command -v "$smi" >/dev/null 2>&1 || fail "nvidia-smi not found: no NVIDIA driver on this machine (install the driver, or run on a GPU host)"
gpus=$("$smi" --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null) || fail "nvidia-smi failed: the driver cannot see a GPU ($smi -L for details)"
[ -n "$gpus" ] || fail "nvidia-smi lists no GPU"
echo "gpu-check: GPU(s): $gpus" >&2
plugin=""
for d in ${PJRT_PLUGIN_LIBRARY_PATH:+${PJRT_PLUGIN_LIBRARY_PATH//:/ }} "$HOME/.local/lib/go-xla" /usr/local/lib/go-xla \
	$(${PYTHON:-/usr/bin/python3} -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true); do
	[ -d "$d" ] || continue
	plugin=$(find "$d" -maxdepth 4 -name 'pjrt_c_api_cuda_plugin.so' -o -maxdepth 4 -name 'xla_cuda_plugin.so' 2>/dev/null | head -1)
	[ -n "$plugin" ] && break
done
[ -n "$plugin" ] || fail "no CUDA PJRT plugin (pjrt_c_api_cuda_plugin.so / xla_cuda_plugin.so) found; install JAX's CUDA plugin (pip install "jax[cuda13]"), or set PJRT_PLUGIN_LIBRARY_PATH to its folder (README, GPU)"
echo "gpu-check: PJRT plugin: $plugin" >&2
${PYTHON:-/usr/bin/python3} -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
	fail "PyTorch cannot use CUDA (torch missing or CPU-only build); the reference needs a CUDA PyTorch"
# By absolute path, so a JAX plugin's bundled CUDA libraries resolve (README, GPU).
out=${BENCH_OUT:-_build/bench-gpu}
GOMLX_BACKEND="xla:$plugin" TORCH_DEVICE=cuda BENCH_OUT=$out bash scripts/bench-compare.sh "$@"
# Cost against R and P on the GPU (peak memory is the host process's, not the device's).
quick=""
for a in "$@"; do [ "$a" = --quick ] && quick=--quick; done
GOMLX_BACKEND="xla:$plugin" bin/nmflow bench --scaling $quick --plot "$out/scaling.png" --json >"$out/scaling.json"
echo "gpu-check: scaling sweep in $out/scaling.json and $out/scaling.png" >&2
