import { readdir, lstat, statfs } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/** What the data dir takes on disk and what its file system has left */
export interface DiskMeasure {
  /** Allocated bytes of every file under the data dir (as du counts them: sparse holes are free) */
  usedBytes: number
  /** Bytes the file system still gives this user */
  freeBytes: number
}

/**
 * Measures a directory, but not the `skip` ones under it (what is counted live elsewhere); a file
 * removed while it is walked is skipped
 */
export async function measureDisk (dir: string, skip: string[] = []): Promise<DiskMeasure> {
  const [usedBytes, fs] = await Promise.all([allocatedBytes(dir, new Set(skip.map(d => resolve(d)))), statfs(dir)])
  return { usedBytes, freeBytes: fs.bavail * fs.bsize }
}

async function allocatedBytes (dir: string, skip: Set<string>): Promise<number> {
  let total = 0
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += skip.has(resolve(path)) ? 0 : await allocatedBytes(path, skip)
    else total += await lstat(path).then(s => s.blocks * 512, () => 0)
  }
  return total
}
