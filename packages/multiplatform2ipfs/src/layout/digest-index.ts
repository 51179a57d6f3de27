import type { Digest } from '../digest.js'
import type { StoredFile } from './unixfs.js'

export interface DigestIndexOptions {
  signal?: AbortSignal
}

/**
 * Maps a verified blob's digest to where its UnixFS file lives. Only verified blobs are ever
 * put, so a hit means the bytes need not be fetched again (if the blockstore still has them).
 */
export interface DigestIndex {
  get(digest: Digest, options?: DigestIndexOptions): Promise<StoredFile | undefined>
  put(digest: Digest, file: StoredFile, options?: DigestIndexOptions): Promise<void>
  delete(digest: Digest, options?: DigestIndexOptions): Promise<void>
}

class MemoryDigestIndex implements DigestIndex {
  private readonly files = new Map<Digest, StoredFile>()

  async get (digest: Digest): Promise<StoredFile | undefined> {
    return this.files.get(digest)
  }

  async put (digest: Digest, file: StoredFile): Promise<void> {
    this.files.set(digest, file)
  }

  async delete (digest: Digest): Promise<void> {
    this.files.delete(digest)
  }
}

/** The in-memory twin, for tests and short-lived tools. */
export function memoryDigestIndex (): DigestIndex {
  return new MemoryDigestIndex()
}
