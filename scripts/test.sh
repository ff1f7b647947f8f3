#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/install-deps.sh),
# checks formatting, vet and staticcheck, then runs every test with the race
# detector and each fuzz target briefly. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
"$(go env GOPATH)/bin/staticcheck" ./...

echo "== promtool check rules"
# Every rule file in configs/prometheus/; promtool's unit tests (*.test.yaml)
# are not rule files, and run in observability_test/.
promtool check rules $(find configs/prometheus -maxdepth 1 -name '*.yaml' ! -name '*.test.yaml' | sort)

echo "== go test -race"
go test -race -count=1 -timeout 8m ./...

echo "== fuzz (each target ${FUZZTIME:=5s})"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    # Go's fuzzer can report "context deadline exceeded" when -fuzztime ends
    # while it minimises an input it found interesting (no crasher, nothing
    # written to testdata); only that case is retried, once.
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg" 2>&1); then
      if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
        echo "   (fuzzer deadline hit while minimising; running again)"
        out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg" 2>&1) || { echo "$out"; exit 1; }
      else
        echo "$out"; exit 1
      fi
    fi
  done
done
echo "== all checks passed"
