import { readdir, lstat, statfs } from 'node:fs/promises'
import { join } from 'node:path'

/** What the data dir takes on disk and what its file system has left */
export interface DiskMeasure {
  /** Allocated bytes of the files under the data dir (as du counts them: sparse holes are free) */
  usedBytes: number
  /** Bytes the file system still gives this user */
  freeBytes: number
}

/**
 * Measures a directory; a file removed while it is walked is skipped. Files `countedLive` names
 * are left out: their owner counts them as they grow (a walk that runs while they are written
 * would count a write it also sees as growth)
 */
export async function measureDisk (dir: string, countedLive: (path: string) => boolean = () => false): Promise<DiskMeasure> {
  const [usedBytes, fs] = await Promise.all([allocatedBytes(dir, countedLive), statfs(dir)])
  return { usedBytes, freeBytes: fs.bavail * fs.bsize }
}

async function allocatedBytes (dir: string, countedLive: (path: string) => boolean): Promise<number> {
  let total = 0
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (countedLive(path)) continue
    if (entry.isDirectory()) total += await allocatedBytes(path, countedLive)
    else total += await lstat(path).then(s => s.blocks * 512, () => 0)
  }
  return total
}
