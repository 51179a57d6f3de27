import { setTimeout as sleep } from 'node:timers/promises'

/**
 * The registry's reads run at most this fast while the node's peers depend on it alone: a seed's
 * own engine pulled the image at full speed as the rollout began, and took the CPU its peers'
 * first blocks needed (bench/distribution, 100 Mbit/s: the seed reached full upload 1–2 s later)
 */
export const MESH_FIRST_BYTES_PER_SECOND = 16 * 1024 * 1024

export interface MeshFirstClock {
  now: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
}

const realClock: MeshFirstClock = { now: () => performance.now(), sleep: async (ms, signal) => { await sleep(ms, undefined, { signal }) } }

/**
 * A pace for the registry (RegistryComponents.pace): while `onlyServing()` says peers depend on
 * this node alone, blob reads together run at most `bytesPerSecond`; otherwise at full speed. A
 * node fetching the image itself is never slowed: its engine reads blocks as they arrive, and
 * must catch up at once when the last one does.
 */
export function meshFirst (onlyServing: () => boolean, bytesPerSecond = MESH_FIRST_BYTES_PER_SECOND, clock: MeshFirstClock = realClock): (bytes: number, signal: AbortSignal) => Promise<void> {
  // when the bytes sent so far may have been sent at the pace
  let due = 0
  return async (bytes, signal) => {
    if (!onlyServing()) {
      due = 0
      return
    }
    const now = clock.now()
    due = Math.max(due, now) + bytes / bytesPerSecond * 1000
    if (due - now > 1) await clock.sleep(due - now, signal)
  }
}

/** A holder's own replication waits for its peers' first blocks until this many have been sent … */
export const PEERS_FIRST_BYTES = 4 * 1024 * 1024
/** … or at most this long */
export const PEERS_FIRST_MAX_MS = 3_000
const PEERS_FIRST_POLL_MS = 50

/**
 * Resolves once this node has sent `bytes` of blocks since the call, or after `maxMs`: a holder
 * about to replicate an image its peers fetch from it lets their first requests go first. Its own
 * fetch, pins and engine load are not urgent (it holds every block, and its engine is paced while
 * it serves), but they took its main thread for the rollout's first 2 s, when the peers' skeleton
 * and first block requests waited on it (bench/distribution, 100 Mbit/s, profiled per node: the
 * seed's walk, pins and registry 0.4 s of it).
 */
export async function peersFirst (sentBytes: () => number, signal: AbortSignal, bytes = PEERS_FIRST_BYTES, maxMs = PEERS_FIRST_MAX_MS, clock: MeshFirstClock = realClock): Promise<void> {
  const start = sentBytes()
  const until = clock.now() + maxMs
  while (sentBytes() - start < bytes && clock.now() < until) await clock.sleep(PEERS_FIRST_POLL_MS, signal)
}
