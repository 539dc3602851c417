#!/usr/bin/env bash
# install-deps.sh: system packages the library, tests and notebooks read at run time.
#   dataset-fashion-mnist  Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist (offline data)
#   python3-numpy          NumPy for the system Python (/usr/bin/python3), used by helper scripts
# Idempotent and quiet: installs only what is missing (apt, no recommends), as root or via sudo.
set -euo pipefail
LOG_TAG=install-deps
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

apt_ensure dataset-fashion-mnist python3-numpy
log "ok: dataset-fashion-mnist, python3-numpy"
