#!/bin/sh
# Regenerates cluster.capnp.go from cluster.capnp. Needs Debian's capnproto
# (the capnp compiler) and the capnpc-go tool pinned in go.mod.
set -eu
cd "$(dirname "$0")"
go mod download capnproto.org/go/capnp/v3
STD="$(go list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std"
PLUGIN="$(go tool -n capnpc-go)"
capnp compile --no-standard-import -I"$STD" -o"$PLUGIN":. ./cluster.capnp
