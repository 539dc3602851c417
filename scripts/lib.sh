# shellcheck shell=bash
# lib.sh: helpers shared by the scripts in this folder; source it, don't run it.
#
#   NMFLOW_ROOT       the repository root (set here from this file's location)
#   JUPYTER_DATA_DIR  exported, default $NMFLOW_ROOT/.jupyter: the project's own kernelspecs, so
#                     installing ours never touches (or is touched by) a user-wide GoNB kernel

NMFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JUPYTER_DATA_DIR="${JUPYTER_DATA_DIR:-$NMFLOW_ROOT/.jupyter}"

# Go: prefer the one on PATH, else the standard tarball location.
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"

# Debian's jupyter scripts run under /usr/bin/python3 (#! line). A python3 earlier on PATH
# (pyenv, venv) does not see Debian's Python packages, so helper Python code uses this one.
# shellcheck disable=SC2034 # used by the scripts that source this file
SYS_PYTHON=/usr/bin/python3 JUPYTER=/usr/bin/jupyter

log() { echo "${LOG_TAG:-nmflow}: $*"; }
die() { echo "${LOG_TAG:-nmflow}: error: $*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root or sudo to run: $*"
  fi
}

# pkg_installed PKG: is the Debian package installed?
pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# apt_ensure PKG...: install the missing packages (no recommends), quietly. The package lists are
# refreshed only when a package has no install candidate or the first attempt fails (stale lists).
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
  log "apt-get install ${missing[*]}"
  local need_update=0 out
  for p in "${missing[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || need_update=1
  done
  if ((need_update)); then
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
  fi
  if ! out="$(as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" 2>&1)"; then
    if ((need_update)); then
      echo "$out" >&2
      die "apt-get install ${missing[*]} failed"
    fi
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    out="$(as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" 2>&1)" || { echo "$out" >&2; die "apt-get install ${missing[*]} failed"; }
  fi
  for p in "${missing[@]}"; do
    pkg_installed "$p" || die "package $p is still not installed"
  done
}

# go_bin_dir: where `go install` puts binaries.
go_bin_dir() {
  local d
  d="$(go env GOBIN)"
  [ -n "$d" ] || d="$(go env GOPATH)/bin"
  echo "$d"
}
