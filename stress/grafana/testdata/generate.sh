#!/usr/bin/env bash
# Regenerates testdata/folder, the tests' fixtures, with the real
# ocluster-sim of this repository: a run with its trace and a comparison of
# two seeds, all of the scenario in two-pools.yaml. The runs are
# deterministic, so a second run changes nothing unless the simulator or
# its output formats did; CI can run this and fail on `git diff`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../../.."
out="$here/folder"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
(cd "$repo" && go build -o "$bin/ocluster-sim" ./cmd/ocluster-sim)
rm -rf "$out"
mkdir -p "$out/traces"
sim="$bin/ocluster-sim"
"$sim" run --scenario "$here/two-pools.yaml" --seed 3 --out "$out/two-pools" --trace "$out/traces/two-pools.trace" >/dev/null
"$sim" compare --scenario "$here/two-pools.yaml" --seeds 2 --out "$out/compare" >/dev/null
# The HTML reports are for people, and the largest files; the plugin skips them.
rm "$out"/*/report.html
