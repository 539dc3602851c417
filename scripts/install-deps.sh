#!/usr/bin/env bash
# install-deps.sh: system packages the library, tests and notebooks read at run time.
#   dataset-fashion-mnist  Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist (offline data)
#   python3-numpy          NumPy for the system Python (/usr/bin/python3), used by helper scripts
# With --bench, also what `make bench` compares against:
#   python3-torch          PyTorch for the system Python (bench/pytorch/bench.py)
#   libopenblas0-pthread   OpenBLAS for its matmuls: without it Debian's torch runs on the reference
#                          BLAS (libblas3), 5-14x slower, and every ratio would look that much better
# Idempotent and quiet: installs only what is missing (apt, no recommends), as root or via sudo.
set -euo pipefail
LOG_TAG=install-deps
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
  "") pkgs=(dataset-fashion-mnist python3-numpy) ;;
  --bench) pkgs=(dataset-fashion-mnist python3-numpy python3-torch libopenblas0-pthread) ;;
  *) die "unknown argument '$1' (want none, or --bench for make bench's PyTorch and OpenBLAS)" ;;
esac
apt_ensure "${pkgs[@]}"
log "ok: ${pkgs[*]}"
