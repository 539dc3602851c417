#!/usr/bin/env bash
# run-notebooks.sh [NOTEBOOK_OR_FOLDER...]: execute Go notebooks headless with the GoNB kernel.
#
# Default: every *.ipynb under notebooks/ and tutorials/. For each notebook it writes the executed
# copy (with outputs, also when it failed) and its HTML rendering to $NB_OUT/<path in repo>, e.g.
# _build/notebooks/tutorials/00-hello-nmflow.{ipynb,html}, prints PASS or FAIL with the duration,
# and ends with the line "N passed, N failed". Exit status 1 if any notebook failed.
#
# A notebook fails on a Go compile error, panic, non-zero exit, failed %test, a cell timeout, or a
# shell line (`!cmd`, `!*cmd`, `%%bash`) that failed: GoNB does not fail the cell for those, it
# only prints "exit status N" on stderr, so the outputs are scanned for that (see nbexec.py).
#
#   NB_OUT          output folder (default _build/notebooks, relative to the current directory)
#   NB_TIMEOUT      seconds per cell (default 900)
#   NB_KEEP_CACHE=1 keep GoNB's value cache ($TMPDIR/gonb_cache_*); it is cleared by default so
#                   that every run recomputes
#   NMFLOW_SCALE    passed through unchanged; notebooks read it (CI sets NMFLOW_SCALE=ci)
#   JUPYTER_DATA_DIR  where the kernelspec is (default <repo>/.jupyter; see install-gonb.sh)
#
# Notebook convention: the first code cell of every notebook is the setup cell
#
#   !*go mod edit -replace=github.com/nmflow/nmflow=$(cd "$GONB_DIR" && dirname "$(go env GOMOD)") -require=github.com/nmflow/nmflow@v0.0.0-00010101000000-000000000000
#
# It points the kernel's scratch Go module at this checkout, so notebooks import the local nmflow
# packages and get every version pinned in go.mod (see tutorials/README.md for why).
#
# Needs scripts/install-gonb.sh (make kernel) to have run.
set -uo pipefail
LOG_TAG=run-notebooks
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

OUT="${NB_OUT:-_build/notebooks}"
mkdir -p "$OUT" || die "cannot create NB_OUT=$OUT"
OUT="$(cd "$OUT" && pwd)"
TIMEOUT="${NB_TIMEOUT:-900}"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "NB_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

[ -f "$JUPYTER_DATA_DIR/kernels/gonb/kernel.json" ] ||
  die "no GoNB kernelspec in $JUPYTER_DATA_DIR: run scripts/install-gonb.sh (make kernel) first"
PATH="$(go_bin_dir):$PATH"
export PATH

# The notebooks to run, as absolute paths.
nbs=()
add_from() { # add_from PATH: a notebook, or every notebook under a folder
  local f
  if [ -d "$1" ]; then
    while IFS= read -r f; do nbs+=("$f"); done < <(
      find "$(cd "$1" && pwd)" -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
  elif [ -f "$1" ]; then
    nbs+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
  else
    die "no such notebook or folder: $1"
  fi
}
if (($#)); then
  for a in "$@"; do add_from "$a"; done
else
  for d in notebooks tutorials; do
    [ -d "$NMFLOW_ROOT/$d" ] && add_from "$NMFLOW_ROOT/$d"
  done
fi
((${#nbs[@]})) || die "no notebooks found in ${*:-notebooks/ tutorials/}"

# The kernel's own log files (install-gonb.sh points --log_dir there): keep a week of them.
find "$JUPYTER_DATA_DIR/gonb-logs" -type f -mtime +7 -delete 2>/dev/null

# GoNB's cache package keeps values in ${TMPDIR:-/tmp}/gonb_cache_<hash>, which outlives kernels.
if [ "${NB_KEEP_CACHE:-0}" != 1 ]; then
  rm -rf "${TMPDIR:-/tmp}"/gonb_cache_*
fi

log "${#nbs[@]} notebook(s), NMFLOW_SCALE=${NMFLOW_SCALE:-<unset>}, GOMLX_BACKEND=${GOMLX_BACKEND:-<auto>}, output in $OUT"
passed=0 failed=0 t_all=$SECONDS
for nb in "${nbs[@]}"; do
  case "$nb" in
    "$NMFLOW_ROOT"/*) rel="${nb#"$NMFLOW_ROOT"/}" ;;
    *) rel="$(basename "$nb")" ;;
  esac
  dest="$OUT/${rel%.ipynb}"
  mkdir -p "$(dirname "$dest")"
  t0=$(date +%s.%N)
  result="$("$SYS_PYTHON" "$NMFLOW_ROOT/scripts/nbexec.py" "$nb" "$dest.ipynb" --html "$dest.html" \
    --timeout "$TIMEOUT" 2>"$dest.log")"
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)); then
    passed=$((passed + 1))
    echo "PASS $rel (${secs}s) ${result#ok: }"
  else
    failed=$((failed + 1))
    echo "FAIL $rel (${secs}s)"
    [ -n "$result" ] && printf '  %s\n' "${result//$'\n'/$'\n'  }"
    echo "  executed copy: $dest.ipynb ($dest.html), log: $dest.log"
    # Not a cell's failure (e.g. the kernel did not start): the kernel's own words are in the log.
    [[ "$result" == "failed: cell"* ]] || head -n 8 "$dest.log" | sed 's/^/  | /'
  fi
done
echo "notebooks: $((SECONDS - t_all))s in all; executed copies and HTML in $OUT"
echo "$passed passed, $failed failed"
((failed == 0))
