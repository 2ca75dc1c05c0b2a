#!/bin/sh
# Regenerates results/fidelity.txt: for every built-in scenario, both the
# baseline and the default policy, five seeds each simulated and played on
# a live cluster (ocluster-stress fidelity), at the speed given below for
# each; ocluster-stress is played for its first hour of arrivals. The
# reports (report.html, fidelity.csv, every run) stay in WORK.
# About two hours on 2 cores; run nothing else meanwhile, as the live
# runs are timed by the wall clock.
# Usage: benchmarks/fidelity.sh [WORK]   (from the repository's root)
set -eu
work=${1:-$(mktemp -d)}
mkdir -p "$work/bin"
go build -o "$work/bin/ocluster-stress" ./cmd/ocluster-stress
out=benchmarks/results/fidelity.txt
: >"$out"
check() { # scenario speed [duration]
	dir="$work/$1"
	extra=${3:+--duration $3}
	echo "\$ go run ./cmd/ocluster-stress fidelity --scenario $1 --policies ocluster,combined --seeds 5 --speed $2 $extra" >>"$out"
	# shellcheck disable=SC2086
	"$work/bin/ocluster-stress" fidelity --scenario "$1" --policies ocluster,combined --seeds 5 --speed "$2" $extra --out "$dir" >"$dir.txt" 2>"$dir.log"
	# where the report went is this machine's business, not the table's
	sed '/^report: /d' "$dir.txt" >>"$out"
	echo >>"$out"
}
check small 240
check hot-hint 240
check failures 240
check small-caches 240
check ocluster-stress 120 1h
