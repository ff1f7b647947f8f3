#!/usr/bin/env bash
# Installs what Signpost's tests need on a fresh Debian machine: the Debian
# packages of the real clients the tests drive (curl, Chromium and certutil
# for the browser test in e2e/), promtool (from Debian's prometheus package)
# for the alerting rules in configs/prometheus/, axe-core for the browser
# test's accessibility checks (into .tools/npm), and the Go linters CI runs.
# Idempotent: a machine that has everything installs nothing.
set -euo pipefail

# prometheus is there for /usr/bin/promtool, which checks and unit-tests the
# alerting rules (scripts/test.sh, observability_test/).
packages=(curl ca-certificates chromium libnss3-tools prometheus)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# staticcheck, pinned, built once into the Go bin directory.
STATICCHECK_VERSION=v0.8.2
bin="$(go env GOPATH)/bin"
if ! "$bin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "install-deps: installing staticcheck $STATICCHECK_VERSION"
  GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

# axe-core, pinned to a major version, for e2e's accessibility checks: the
# tests inject .tools/npm/node_modules/axe-core/axe.min.js into each page.
AXE_VERSION=4.x
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$root/.tools/npm/node_modules/axe-core/axe.min.js" ]; then
  echo "install-deps: installing axe-core@$AXE_VERSION into $root/.tools/npm"
  npm install --silent --no-audit --no-fund --prefix "$root/.tools/npm" "axe-core@$AXE_VERSION"
fi
