#!/usr/bin/env bash
# browser-test.sh [NOTEBOOK]: the end-to-end browser test (make test-browser). Starts `make lab`'s
# Jupyter on 127.0.0.1, opens NOTEBOOK (default notebooks/02-quickstart.ipynb) in headless
# Chromium, runs every cell through the UI (Cell → Run All) and fails on any error output, failed
# shell line, cell that did not run, or figure that did not render as an image. See
# tests/browser/browser-test.mjs for the details.
#
#   NMFLOW_SCALE      default ci (the kernel runs the notebook small); set "default" for full scale
#   BROWSER_OUT       output folder (default _build/browser): <name>.png screenshot, <name>.json
#                     result, jupyter.log, and work/ (the executed copy of the notebook)
#   BROWSER_TIMEOUT   seconds for the whole notebook (default 1200)
#   BROWSER_MIN_IMAGES  figures that must render (default 4, the quickstart's)
#
# Needs: scripts/install-browser.sh (Chromium, Node.js, playwright-core; run here) and the kernel
# (make lab installs Jupyter Notebook and GoNB itself on first use).
set -euo pipefail
LOG_TAG=browser-test
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

bash "$NMFLOW_ROOT/scripts/install-browser.sh"
export NMFLOW_SCALE="${NMFLOW_SCALE:-ci}"
[ "$NMFLOW_SCALE" = default ] && unset NMFLOW_SCALE
cd "$NMFLOW_ROOT"
exec node tests/browser/browser-test.mjs --notebook "${1:-notebooks/02-quickstart.ipynb}" \
  --out "${BROWSER_OUT:-_build/browser}" --timeout "${BROWSER_TIMEOUT:-1200}" \
  --min-images "${BROWSER_MIN_IMAGES:-4}"
