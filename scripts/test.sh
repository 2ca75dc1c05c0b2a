#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what the tests need
# when it is missing, checks formatting and vet, then runs every test (with
# the race detector on the packages that run goroutines).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
need() { command -v "$1" >/dev/null 2>&1 || need_apt+=("$2"); }
need git git
need capnp capnproto
# The Docker tests build on a busybox base image made locally, and push to
# a registry on loopback.
need busybox busybox-static
need docker-registry docker-registry
# The rsync: OBuilder store runs its steps with runc and copies them with
# rsync.
need runc runc
need rsync rsync
# The dashboards' queries are checked against a real Prometheus.
need prometheus prometheus
# The testbed's compose file is validated, and its services run.
need docker-compose docker-compose
# The HTML report is checked in a real browser.
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing: ${need_apt[*]}"
	sudo_cmd=""
	[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

# With an engine on this machine, the Docker tests must run, not skip.
if [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; then
	export OCLUSTER_REQUIRE_DOCKER="${OCLUSTER_REQUIRE_DOCKER:-1}"
else
	echo "note: no Docker engine here; the tests that build images will be skipped"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.capnp\.go$') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 ./...

echo "== go test -race (the packages that run goroutines)"
go test -race -count=1 ./transport/... ./store/... ./sim/

echo "== Grafana data-source plugin (its own module)"
(
	cd stress/grafana
	unformatted=$(gofmt -l .)
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"; echo "$unformatted"; exit 1
	fi
	go vet ./...
	go test -count=1 ./...
	./build.sh >/dev/null
)
