#!/bin/sh
# Regenerates results/policies.txt: every policy against ocluster on the
# built-in scenarios (10 seeds each), combined without each of its pieces,
# on ten failures traces the simulator
# records, and on ten hot-hint traces the live testbed records (about eight
# minutes of ocluster-stress runs; traces already in WORK are reused).
# Usage: benchmarks/policies.sh [WORK]   (from the repository's root)
set -eu
work=${1:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/ocluster-sim" ./cmd/ocluster-sim
go build -o "$work/ocluster-stress" ./cmd/ocluster-stress
sim="$work/ocluster-sim"
policies=ocluster,combined,adaptive,sfq,ideal
traces() { # prefix suffix: the ten traces' paths, comma-separated
	for i in 1 2 3 4 5 6 7 8 9 10; do printf '%s%s%s,' "$1" "$i" "$2"; done | sed 's/,$//'
}
{
	for sc in hot-hint failures ocluster-stress small-caches; do
		echo "\$ go run ./cmd/ocluster-sim compare --scenario $sc --seeds 10 --policies $policies"
		"$sim" compare --scenario "$sc" --seeds 10 --policies "$policies"
		echo
	done
	# Each piece of combined on its own: combined without it.
	ablation=combined,combined+steal=false,combined+max-attempts=1,combined+lease=0s,combined+trust-prunes=false
	for sc in hot-hint failures small-caches; do
		echo "\$ go run ./cmd/ocluster-sim compare --scenario $sc --seeds 10 --policies $ablation"
		"$sim" compare --scenario "$sc" --seeds 10 --policies "$ablation"
		echo
	done
	# Usage decay, against sfq, where OCluster's fair start is unfair.
	decay=ocluster,ocluster+half-life=1h,ocluster+half-life=10m,sfq
	echo "\$ go run ./cmd/ocluster-sim compare --scenario ocluster-stress --seeds 10 --policies $decay"
	"$sim" compare --scenario ocluster-stress --seeds 10 --policies "$decay"
	echo
	for i in 1 2 3 4 5 6 7 8 9 10; do
		"$sim" run --scenario failures --policy ocluster --seed "$i" --trace "$work/failures-$i.trace" --format json >/dev/null
	done
	echo "\$ for i in \$(seq 10); do go run ./cmd/ocluster-sim run --scenario failures --policy ocluster --seed \$i --trace failures-\$i.trace; done"
	echo "\$ go run ./cmd/ocluster-sim compare --trace $(traces failures- .trace) --policies $policies"
	(cd "$work" && ./ocluster-sim compare --trace "$(traces failures- .trace)" --policies "$policies")
	echo
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -f "$work/live-$i/trace" ] || "$work/ocluster-stress" all --scenario hot-hint --speed 300 --seed "$i" --policy ocluster --out "$work/live-$i" --summary-every 60s >"$work/live-$i.log" 2>&1
	done
	echo "\$ for i in \$(seq 10); do go run ./cmd/ocluster-stress all --scenario hot-hint --speed 300 --seed \$i --policy ocluster --out live-\$i; done"
	echo "\$ go run ./cmd/ocluster-sim compare --trace $(traces live- /trace) --time-scale 300 --policies $policies"
	(cd "$work" && ./ocluster-sim compare --trace "$(traces live- /trace)" --time-scale 300 --policies "$policies")
} 2>/dev/null >benchmarks/results/policies.txt
