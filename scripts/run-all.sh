#!/usr/bin/env bash
# A 3-node demo mesh on loopback, the analogue of DistroMash's run-all.
# Node 1: API :3000, swarm :4001, registry :5005; nodes 2 and 3: +1, +2. All under data/run-all/,
# with a fresh swarm key and a peerstore pointing at node 1. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=data/run-all
mkdir -p "$dir"
[ -f "$dir/swarm.key" ] || ./bin/distromash swarm-key > "$dir/swarm.key"
: > "$dir/peerstore.empty"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM

start() { # n peerstore
  local n=$1 off=$(( $1 - 1 ))
  ./bin/distromash node --data-dir "$dir/node$n" --api-port $((3000 + off)) --swarm-listen "/ip4/127.0.0.1/tcp/$((4001 + off))" \
    --registry-port $((5005 + off)) --peerstore "$2" --swarm-key "$dir/swarm.key" > >(sed -u "s/^/[node$n] /") 2>&1 &
  pids+=($!)
}

start 1 "$dir/peerstore.empty"
for _ in $(seq 50); do
  id=$(curl -sf http://127.0.0.1:3000/api/v1/identity | sed -n 's/.*"peerId":"\([^"]*\)".*/\1/p') && [ -n "$id" ] && break
  sleep 0.2
done
echo "/ip4/127.0.0.1/tcp/4001/p2p/$id" > "$dir/peerstore"
start 2 "$dir/peerstore"
start 3 "$dir/peerstore"
echo "mesh up: http://127.0.0.1:3000  http://127.0.0.1:3001  http://127.0.0.1:3002 (Ctrl-C to stop)"
wait
