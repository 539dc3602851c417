#!/usr/bin/env bash
# install-gonb.sh: the Jupyter tools (Debian packages) and the GoNB Go kernel, registered as the
# kernelspec "gonb" in $JUPYTER_DATA_DIR (default <repo>/.jupyter, git-ignored), so the project's
# kernel is independent of any user-wide one. Needs only apt and the Go module proxy.
# Idempotent: a second run only rewrites the kernelspec (about a second).
#
#   WITH_LAB=1        also install the classic Notebook server (jupyter-notebook) for `make lab`
#   WITH_GOPLS=1      also build gopls (notebook autocompletion; ~80 s; not needed headless)
#   GONB_VERSION      default v0.11.5  (keep equal to the version pinned in go.mod)
#   X_TOOLS_VERSION   default v0.52.0  (goimports; GoNB runs it on every cell)
#   GOPLS_VERSION     default v0.23.0
#
# The kernelspec sets, for every kernel it starts:
#   PATH                  GOBIN and Go's bin first (GoNB runs `go` and `goimports`)
#   GOEXPERIMENT=simd     GoNB builds each cell with `go build`; simd makes GoMLX's pure-Go
#                         matmuls several times faster. Forced: the kernelspec overrides the caller.
#   GOMLX_NO_AUTO_INSTALL=1   never download XLA plugins
#   GOMLX_BACKEND is left alone: nmflow/backend picks XLA when a PJRT plugin (or JAX's CUDA
#                         plugin) is present and the pure-Go backend otherwise; set it to force one.
set -euo pipefail
LOG_TAG=install-gonb
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

GONB_VERSION="${GONB_VERSION:-v0.11.5}"
X_TOOLS_VERSION="${X_TOOLS_VERSION:-v0.52.0}"
GOPLS_VERSION="${GOPLS_VERSION:-v0.23.0}"

command -v go >/dev/null 2>&1 || die "go not found on PATH nor in /usr/local/go/bin"
GOBIN_DIR="$(go_bin_dir)"
GO_BIN_DIR="$(dirname "$(command -v go)")"
mkdir -p "$GOBIN_DIR"
export PATH="$GOBIN_DIR:$PATH"
# GoNB itself and goimports are plain tools: build them without the simd experiment.
unset GOEXPERIMENT GOFLAGS

# 1. Jupyter from Debian (PyPI is not reachable). nbconvert executes notebooks headless.
pkgs=(jupyter-core jupyter-client jupyter-nbconvert python3-nbclient python3-nbformat)
[ "${WITH_LAB:-0}" = 1 ] && pkgs+=(jupyter-notebook)
apt_ensure "${pkgs[@]}"

# has_module BIN MODULE VERSION: was BIN built from MODULE at VERSION? (reads its build info)
has_module() {
  [ -x "$1" ] && go version -m "$1" 2>/dev/null |
    awk -v m="$2" -v v="$3" '($1 == "mod" || $1 == "dep") && $2 == m && $3 == v { ok = 1 } END { exit !ok }'
}

# 2. goimports (x/tools lists its versions on the proxy, so `go install pkg@version` works).
if ! has_module "$GOBIN_DIR/goimports" golang.org/x/tools "$X_TOOLS_VERSION"; then
  log "go install golang.org/x/tools/cmd/goimports@$X_TOOLS_VERSION"
  GOBIN="$GOBIN_DIR" go install "golang.org/x/tools/cmd/goimports@$X_TOOLS_VERSION"
fi
if [ "${WITH_GOPLS:-0}" = 1 ] && ! has_module "$GOBIN_DIR/gopls" golang.org/x/tools/gopls "$GOPLS_VERSION"; then
  log "go install golang.org/x/tools/gopls@$GOPLS_VERSION"
  GOBIN="$GOBIN_DIR" go install "golang.org/x/tools/gopls@$GOPLS_VERSION"
fi

# 3. GoNB. `go install github.com/janpfeifer/gonb@VERSION` fails here: its deprecation check reads
#    the module's version list, which the proxy refuses (403). As a dependency of a scratch module,
#    only the exact version is fetched.
if ! has_module "$GOBIN_DIR/gonb" github.com/janpfeifer/gonb "$GONB_VERSION"; then
  log "building github.com/janpfeifer/gonb@$GONB_VERSION (about a minute on 2 cores)"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  if ! out="$(cd "$scratch" && go mod init nmflow.local/gonb-build 2>&1 &&
      go get "github.com/janpfeifer/gonb@$GONB_VERSION" 2>&1 &&
      GOBIN="$GOBIN_DIR" go install github.com/janpfeifer/gonb 2>&1)"; then
    echo "$out" >&2
    die "building GoNB failed"
  fi
fi

# 4. The kernelspec. `gonb --install` writes kernel.json (+ logo) into $JUPYTER_DATA_DIR/kernels/gonb;
#    --force_deps: gopls is optional; --raw_error: compile errors as plain text (readable in CI
#    logs); --logtostderr=false + --log_dir: only the kernel's errors reach the console.
KERNEL_DIR="$JUPYTER_DATA_DIR/kernels/gonb"
LOG_DIR="$JUPYTER_DATA_DIR/gonb-logs"
mkdir -p "$LOG_DIR"
if ! out="$("$GOBIN_DIR/gonb" --install --force_deps --raw_error \
    --logtostderr=false --log_dir="$LOG_DIR" 2>&1)"; then
  echo "$out" >&2
  die "gonb --install failed"
fi
# Then our additions: the environment above.
"$SYS_PYTHON" - "$KERNEL_DIR/kernel.json" "$GOBIN_DIR:$GO_BIN_DIR" <<'PY'
import json, sys

path, bindirs = sys.argv[1], sys.argv[2]
with open(path) as f:
    spec = json.load(f)
argv = spec["argv"]
if argv[:1] == ["/bin/sh"]:  # wrapped by an older version of this script: keep GoNB's own argv
    argv = argv[3:]
spec["argv"] = argv
spec["display_name"] = "Go (gonb)"
spec["language"] = "go"
spec["env"] = {
    "PATH": bindirs + ":${PATH}",
    "GOEXPERIMENT": "simd",
    "GOMLX_NO_AUTO_INSTALL": "1",
}
spec.setdefault("metadata", {})["nmflow"] = "written by scripts/install-gonb.sh"
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")
PY

# (Read the whole list first: `grep -q` closing the pipe early would fail it under pipefail.)
specs="$("$JUPYTER" kernelspec list 2>/dev/null)" || die "jupyter kernelspec list failed"
grep -Eq "^ *gonb +$KERNEL_DIR\$" <<<"$specs" ||
  die "jupyter does not list the kernelspec gonb in $KERNEL_DIR:"$'\n'"$specs"
log "ok: gonb $("$GOBIN_DIR/gonb" -V 2>/dev/null | head -n1), goimports $X_TOOLS_VERSION," \
  "nbconvert $("$JUPYTER" nbconvert --version 2>/dev/null), kernelspec $KERNEL_DIR"
