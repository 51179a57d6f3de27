/** How long a disk usage figure is reused: Kubo's repo/stat is an HTTP call, scrapes come every 15 s or so */
const CACHE_MS = 10_000

/**
 * Disk usage for the metrics: bytes of blocks held (the content backend's stat: the pack
 * blockstore's index, or Kubo's repo size), read at most every 10 s, and the disk budget from
 * `limit` (0: no limit; the hook where --max-disk is wired in).
 */
export function cachedDiskUsage (usedBytes: () => Promise<number>, limit: () => number = () => 0): () => Promise<{ usedBytes: number, limitBytes: number }> {
  let last: { at: number, bytes: number } | undefined
  return async () => {
    if (last == null || Date.now() - last.at >= CACHE_MS) {
      const bytes = await usedBytes().catch(() => last?.bytes ?? 0)
      last = { at: Date.now(), bytes }
    }
    return { usedBytes: last.bytes, limitBytes: limit() }
  }
}
