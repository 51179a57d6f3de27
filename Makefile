# DistroMash — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
NODE_ARGS ?=

.PHONY: run run-all test build install clean swarm-key bench-propagation bench-registry bench-import bench-distribution bench-abuse bench-scale bench-transfer

# npm install follows the committed lockfile and, as long as it is what npm install writes, leaves
# it untouched (scripts/check-lockfile.sh, run by .ci/run, fails otherwise; npm ci accepts it too).
# Not npm ci here: it deletes node_modules on every lockfile change.
node_modules/.installed: package.json package-lock.json packages/*/package.json
	npm install --loglevel=error --no-audit --no-fund
	@touch $@

install: node_modules/.installed

build: install
	npx tsc -b
	npm run --silent gen:api -w @distromash/web
	npm run --silent typecheck -w @distromash/web
	npm run --silent build -w @distromash/web

## Start one node: embedded IPFS, libp2p on :4001, API on http://127.0.0.1:3000
run: build
	./bin/distromash node $(NODE_ARGS)

## A 3-node demo mesh on loopback (nodes 2 and 3 bootstrap to node 1)
run-all: build
	./scripts/run-all.sh

## The whole test suite (unit, API, multi-process)
test: build
	npx vitest run

swarm-key: build
	@./bin/distromash swarm-key

## Benchmarks: run on demand, print figures against their targets (the last three need root)
bench-propagation: build
	node bench/propagation.mjs

bench-registry: build
	node bench/registry.mjs

bench-import: build
	node bench/import.mjs

## One node fetching a ≥ 256 MiB image from another (private network on) vs skopeo from docker-registry
bench-transfer: build
	node bench/transfer.mjs

bench-abuse: build
	node bench/abuse.mjs

bench-distribution: build
	node bench/distribution/run.mjs --mesh --rates 50,25

## 30 nodes in network namespaces on this host, bootstrapped through one (root)
bench-scale: build
	node bench/scale/run.mjs

clean:
	rm -rf packages/*/dist packages/*/*.tsbuildinfo .tmp test-output bench/out
