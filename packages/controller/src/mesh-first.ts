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
