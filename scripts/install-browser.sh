#!/usr/bin/env bash
# install-browser.sh: what the browser test (scripts/browser-test.sh, make test-browser) needs:
#   chromium          Debian's headless-capable Chromium (apt); playwright-core never downloads one
#   nodejs, npm       Node.js from apt when `node` is missing (Debian 12 ships Node 18)
#   playwright-core   the version pinned in tests/browser/package-lock.json, installed with `npm ci`
#                     into $BROWSER_DEPS (default <repo>/_build/browser/deps, git-ignored), so the
#                     repository tree never gets a node_modules folder
# Idempotent: a second run checks the versions and returns (about a second).
set -euo pipefail
LOG_TAG=install-browser
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

DEPS="${BROWSER_DEPS:-$NMFLOW_ROOT/_build/browser/deps}"
SPEC="$NMFLOW_ROOT/tests/browser"

pkgs=(chromium)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
apt_ensure "${pkgs[@]}"
CHROMIUM="$(command -v chromium || true)"
[ -x "$CHROMIUM" ] || die "chromium not found after installing it"

want="$("$SYS_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/playwright-core"]["version"])' \
  "$SPEC/package-lock.json")" || die "cannot read the pinned playwright-core version from $SPEC/package-lock.json"
have="$("$SYS_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$DEPS/node_modules/playwright-core/package.json" 2>/dev/null || true)"
if [ "$have" != "$want" ] || ! cmp -s "$SPEC/package-lock.json" "$DEPS/package-lock.json"; then
  log "npm ci playwright-core@$want into $DEPS"
  mkdir -p "$DEPS"
  cp "$SPEC/package.json" "$SPEC/package-lock.json" "$DEPS/"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing anyway; belt and braces.
  if ! out="$(cd "$DEPS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error 2>&1)"; then
    echo "$out" >&2
    die "npm ci failed (the npm registry must be reachable)"
  fi
fi
log "ok: $("$CHROMIUM" --version 2>/dev/null | head -n1), node $(node --version), playwright-core $want in $DEPS"
