import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import { isDigest, type Digest } from '../digest.js'
import { BlobNotFoundError, InvalidLayoutError } from '../errors.js'
import { indexSchema, type ImageIndex } from '../manifest.js'
import { MAX_MANIFEST_BYTES } from '../constants.js'
import { BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, blobPath } from './oci-layout.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export interface ReadOptions {
  signal?: AbortSignal
}

export interface RangeOptions extends ReadOptions {
  offset?: number
  length?: number
}

export interface LayoutBlob {
  digest: Digest
  cid: CID
  size: number
}

/** Read access to an image layout stored under a root CID. */
export interface ImageLayout {
  readonly cid: CID
  /** Names of the root entries (`blobs`, `index.json`, `oci-layout`). */
  files(options?: ReadOptions): Promise<string[]>
  index(options?: ReadOptions): Promise<ImageIndex>
  blobs(options?: ReadOptions): AsyncGenerator<LayoutBlob>
  stat(digest: Digest, options?: ReadOptions): Promise<LayoutBlob>
  /** Streams a blob, or a byte range of it. */
  blob(digest: Digest, options?: RangeOptions): AsyncGenerator<Uint8Array>
  /** Reads a small file (index.json, a manifest, a config) whole; capped at 4 MiB. */
  readFile(path: string, options?: ReadOptions): Promise<Uint8Array>
}

type ReadableBlockstore = Pick<Blockstore, 'get'>

export function openLayout (cid: CID, blockstore: ReadableBlockstore): ImageLayout {
  const resolve = async (path: string, options: ReadOptions = {}): Promise<UnixFSEntry> => {
    try {
      return await exporter(`${cid.toString()}/${path}`, blockstore, options)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') {
        throw new BlobNotFoundError(`${path} not found in layout ${cid.toString()}`)
      }
      throw err
    }
  }
  const readFile = async (path: string, options: ReadOptions = {}): Promise<Uint8Array> => {
    const entry = await resolve(path, options)
    if (!('content' in entry) || entry.size > BigInt(MAX_MANIFEST_BYTES)) {
      throw new InvalidLayoutError(`${path} in ${cid.toString()} is not a small file`)
    }
    return Buffer.concat(await arrayOf(entry.content(options)))
  }
  const stat = async (digest: Digest, options: ReadOptions = {}): Promise<LayoutBlob> => {
    const entry = await resolve(blobPath(digest), options)
    return { digest, cid: entry.cid, size: Number(entry.size) }
  }
  return {
    cid,
    files: async (options = {}) => (await arrayOf(directory(await resolve('', options), options))).map(e => e.name),
    index: async (options = {}) => {
      // both at once: over the network each read is a round trip
      const [, index] = await Promise.all([readFile(OCI_LAYOUT_FILE, options), readFile(INDEX_FILE, options)])
      const parsed = indexSchema.safeParse(JSON.parse(new TextDecoder().decode(index)))
      if (!parsed.success) {
        throw new InvalidLayoutError(`index.json in ${cid.toString()} is not an OCI index`)
      }
      return parsed.data
    },
    blobs: async function * (options = {}) {
      for await (const entry of directory(await resolve(BLOBS_DIR, options), options)) {
        const digest = `sha256:${entry.name}`
        if (isDigest(digest)) {
          // a directory link's Tsize counts DAG bytes; the content size is in the file's own root node
          const file = await exporter(entry.cid, blockstore, options)
          yield { digest, cid: entry.cid, size: Number(file.size) }
        }
      }
    },
    stat,
    blob: async function * (digest, options = {}) {
      const entry = await resolve(blobPath(digest), options)
      if (!('content' in entry)) {
        throw new InvalidLayoutError(`${blobPath(digest)} in ${cid.toString()} is not a file`)
      }
      yield * entry.content(options)
    },
    readFile
  }
}

async function * directory (entry: UnixFSEntry, options: ReadOptions): AsyncGenerator<{ name: string, cid: CID, size: bigint }> {
  if (entry.type !== 'directory') {
    throw new InvalidLayoutError(`${entry.path} is not a directory`)
  }
  yield * entry.entries(options)
}

async function arrayOf<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) {
    out.push(item)
  }
  return out
}
