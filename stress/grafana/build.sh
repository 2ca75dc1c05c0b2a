#!/usr/bin/env bash
# Builds the data source into dist/, laid out as Grafana loads a plugin
# folder: plugin.json, module.js, the logo, and the backend as
# <executable>_linux_<arch> for amd64 and arm64 (static, so that it runs in
# any Grafana image). docker-compose.yml mounts dist/ as the plugin.
set -euo pipefail
cd "$(dirname "$0")"
exe=$(sed -n 's/^ *"executable": *"\([^"]*\)".*/\1/p' plugin.json)
if [ -z "$exe" ]; then
	echo "build.sh: plugin.json names no executable" >&2
	exit 1
fi
rm -rf dist
mkdir -p dist/img
for arch in amd64 arm64; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "dist/${exe}_linux_${arch}" .
done
cp plugin.json module.js README.md dist/
cp img/logo.svg dist/img/
echo "built dist/: $(cd dist && echo *)"
