import { readdir, lstat, statfs } from 'node:fs/promises'
import { join } from 'node:path'

/** What the data dir takes on disk and what its file system has left */
export interface DiskMeasure {
  /** Allocated bytes of every file under the data dir (as du counts them: sparse holes are free) */
  usedBytes: number
  /** Bytes the file system still gives this user */
  freeBytes: number
}

/** Measures a directory; a file removed while it is walked is skipped */
export async function measureDisk (dir: string): Promise<DiskMeasure> {
  const [usedBytes, fs] = await Promise.all([allocatedBytes(dir), statfs(dir)])
  return { usedBytes, freeBytes: fs.bavail * fs.bsize }
}

async function allocatedBytes (dir: string): Promise<number> {
  let total = 0
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await allocatedBytes(path)
    else total += await lstat(path).then(s => s.blocks * 512, () => 0)
  }
  return total
}
