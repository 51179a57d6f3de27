#!/usr/bin/env bash
# Builds the OCI distribution-spec conformance suite (github.com/opencontainers/distribution-spec/conformance)
# from the Go module proxy into $GOBIN (default ~/go/bin) as `oci-conformance`, for test/oci-conformance.test.ts.
# Skips when that binary already holds this version (read from its Go build info, so no stamp file can
# go stale). Go's default build and module caches are used, so a rebuild after a version bump is quick.
#
# The module is a `main` package (its `go test` entry point is deprecated), so `go install` builds it
# as it is published, checked against its go.sum and the checksum database like any module.
set -euo pipefail
command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "install-oci-conformance: no go toolchain (looked on PATH and in /usr/local/go/bin)" >&2; exit 1; }
# the module proxy only: a module it lacks fails here rather than being fetched from its origin
proxy=$(go env GOPROXY | sed -E 's/[,|]direct$//')
case "$proxy" in ''|direct|off) proxy=https://proxy.golang.org ;; esac
export GOPROXY="$proxy"
MODULE=github.com/opencontainers/distribution-spec/conformance
VERSION="${OCI_CONFORMANCE_VERSION:-v0.0.0-20260831232431-97274622c111}"
out="${GOBIN:-$(go env GOPATH)/bin}"
bin="$out/oci-conformance"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | awk -v m="$MODULE" -v v="$VERSION" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
  echo "oci-conformance ${VERSION} already installed: $bin"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GOBIN="$work" go install "${MODULE}@${VERSION}"
mkdir -p "$out"
mv "$work/conformance" "$bin"
echo "oci-conformance ${VERSION} installed: $bin"
