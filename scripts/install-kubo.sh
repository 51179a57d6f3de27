#!/usr/bin/env bash
# Builds Kubo (the ipfs CLI and daemon) from the Go module proxy into $GOBIN (default ~/go/bin),
# for issue 13's interop tests. Skips when that version is already on PATH.
#
# `go install github.com/ipfs/kubo/cmd/ipfs@v0.43.1` does not work here: Kubo's go.mod replaces
# go-libp2p with a fork (github.com/lidel/go-libp2p) that the module proxy does not serve (403).
# The fork only exists to take quic-go >= v0.62 (see the TODO beside the replace in Kubo's go.mod),
# so this builds the module's own source with the released go-libp2p instead, and quic-go and
# webtransport-go pinned to the versions that release requires.
set -euo pipefail
VERSION="${KUBO_VERSION:-v0.43.1}"
if command -v ipfs >/dev/null && ipfs version 2>/dev/null | grep -q "${VERSION#v}"; then
  echo "kubo ${VERSION} already installed: $(command -v ipfs)"
  exit 0
fi
out="${GOBIN:-$(go env GOPATH)/bin}"
# the documented way first, should the proxy ever serve what Kubo's go.mod replaces
if GOFLAGS=-mod=mod go install "github.com/ipfs/kubo/cmd/ipfs@${VERSION}" 2>/dev/null; then
  "$out/ipfs" version
  exit 0
fi
echo "go install github.com/ipfs/kubo/cmd/ipfs@${VERSION} refused (its go.mod replaces go-libp2p with a fork the proxy does not serve): building its source with the released go-libp2p"
src=$(go mod download -json "github.com/ipfs/kubo@${VERSION}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
cd "$work"
sed -i '/^replace github.com\/libp2p\/go-libp2p => /d' go.mod
go mod edit -replace github.com/quic-go/quic-go=github.com/quic-go/quic-go@v0.60.0 \
  -replace github.com/quic-go/webtransport-go=github.com/quic-go/webtransport-go@v0.11.1
mkdir -p "$out"
go build -mod=mod -o "$out/ipfs" ./cmd/ipfs
"$out/ipfs" version
