import { CustomProgressEvent, type ProgressOptions } from 'progress-events'
import { CHUNK_SIZE, DEFAULT_BLOB_CONCURRENCY, DEFAULT_HASH_WORKERS } from './constants.js'
import { HashPool } from './hash-pool.js'
import { JobRegistry } from './join.js'
import { writeLayout } from './layout/oci-layout.js'
import { addFile, type StoredFile } from './layout/unixfs.js'
import { planImport, type ImportPlan } from './import-plan.js'
import { PiecePool } from './pieces.js'
import { forEachLimit } from './pool.js'
import { formatPlatform, normalizePlatform, parsePlatform, type Platform } from './platform.js'
import { formatReference, parseReference, type ImageReference } from './reference.js'
import type { Digest } from './digest.js'
import type { DigestIndex } from './layout/digest-index.js'
import type { Descriptor } from './manifest.js'
import type { ImportProgressEvents } from './progress.js'
import type { RegistryClient } from './upstream/client.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export interface ImporterComponents {
  client: RegistryClient
  blockstore: Pick<Blockstore, 'put' | 'has'>
  digestIndex: DigestIndex
  /**
   * Where each import writes its blocks instead of `blockstore`: one writer per import, closed
   * (every block stored) before the import resolves, aborted when it fails. A node keeping its
   * content in Kubo streams an import as one CAR this way rather than a request per block.
   */
  writer?: () => ImportWriter
}

/** The blocks of one import: stored once close() resolves */
export interface ImportWriter {
  /** Resolves once the bytes may be reused (see ImporterInit.reusePieces) */
  put(cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  has(cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  close(): Promise<void>
  abort(reason?: unknown): void
}

/** Where a running import's blocks go */
type Blocks = Pick<Blockstore, 'put' | 'has'>
type RunOptions = ImportOptions & { blocks: Blocks }

export interface ImporterInit {
  /** Parallel blob downloads per import (default 3). */
  concurrency?: number
  /** Worker threads hashing blob pieces (default: one per spare core, at most 2; 0 hashes on this thread) */
  hashWorkers?: number
  /**
   * Reuse a block's buffer once the blockstore's put has resolved. Only for a blockstore that
   * keeps no reference to the bytes it is given (one that writes them out, as the node's pack
   * blockstore does); a memory blockstore would see its blocks overwritten. Default false.
   */
  reusePieces?: boolean
}

export interface ImportOptions extends ProgressOptions<ImportProgressEvents> {
  /** Only these platforms (e.g. `linux/arm64`); the top index is kept whole either way. */
  platforms?: Array<string | Platform>
  signal?: AbortSignal
}

export interface ImportedImage {
  /** Root CID of the OCI image layout directory. */
  cid: CID
  /** Digest of the top manifest (index or manifest) as served upstream. */
  digest: Digest
  mediaType: string
  /** Platforms imported, e.g. `['linux/amd64', 'linux/arm64']`. */
  platforms: string[]
  /** Total bytes of all blobs in the layout (manifests, configs, layers). */
  size: number
  reference: ImageReference
}

export interface Importer {
  importImage(reference: string | ImageReference, options?: ImportOptions): Promise<ImportedImage>
}

class ImageImporter implements Importer {
  private readonly jobs = new JobRegistry<ImportedImage, ImportProgressEvents>()
  private readonly concurrency: number
  private readonly hashes: HashPool | undefined
  private readonly pieces = new PiecePool(CHUNK_SIZE)
  private readonly reusePieces: boolean
  private downloads = 0

  constructor (private readonly components: ImporterComponents, init: ImporterInit) {
    this.concurrency = init.concurrency ?? DEFAULT_BLOB_CONCURRENCY
    const workers = init.hashWorkers ?? DEFAULT_HASH_WORKERS
    this.hashes = workers > 0 ? new HashPool({ size: workers }) : undefined
    this.reusePieces = init.reusePieces ?? false
  }

  /** Imports of the same reference and platform filter share one run. */
  async importImage (input: string | ImageReference, options: ImportOptions = {}): Promise<ImportedImage> {
    const reference = typeof input === 'string' ? parseReference(input) : input
    const platforms = options.platforms?.map(p => typeof p === 'string' ? parsePlatform(p) : p)
    const filter = platforms?.map(p => formatPlatform(normalizePlatform(p))).sort().join(',') ?? '*'
    const key = `${formatReference(reference, { canonical: true })} ${filter}`
    return this.jobs.run(key, async (signal, onProgress) => this.run(reference, platforms, { signal, onProgress }), options)
  }

  private async run (reference: ImageReference, platforms: Platform[] | undefined, importOptions: ImportOptions): Promise<ImportedImage> {
    const { client, blockstore } = this.components
    this.hashes?.warm() // boots while the manifests come
    const plan = await planImport(reference, client, { ...importOptions, platforms })
    const writer = this.components.writer?.()
    const blocks: Blocks = writer == null
      ? blockstore
      : { put: async (cid, bytes, o) => { await writer.put(cid, bytes as Uint8Array, o); return cid }, has: async (cid, o) => await writer.has(cid, o) }
    const options: RunOptions = { ...importOptions, blocks }
    let root: StoredFile
    const stored = new Map<Digest, StoredFile>()
    try {
      for (const [digest, bytes] of plan.small) {
        stored.set(digest, await this.storeSmall(digest, bytes, options))
      }
      await this.storeBlobs(reference, plan, stored, options)
      root = await writeLayout({ top: plan.top, tag: reference.tag, blobs: stored }, blocks, options)
      await writer?.close()
    } catch (err) {
      writer?.abort(err)
      throw err
    }
    options.onProgress?.(new CustomProgressEvent('import:done', { cid: root.cid, digest: plan.top.digest }))
    let size = 0
    for (const file of stored.values()) size += file.size
    return { cid: root.cid, digest: plan.top.digest, mediaType: plan.top.mediaType, platforms: plan.platforms, size, reference }
  }

  /** A blob known to the digest index, if its blocks are still in the blockstore. */
  private async known (digest: Digest, options: RunOptions): Promise<StoredFile | undefined> {
    const file = await this.components.digestIndex.get(digest, options)
    return file !== undefined && await options.blocks.has(file.cid, options) ? file : undefined
  }

  private async storeSmall (digest: Digest, bytes: Uint8Array, options: RunOptions): Promise<StoredFile> {
    const file = await this.known(digest, options) ?? await addFile(bytes, options.blocks, options)
    await this.components.digestIndex.put(digest, file, options)
    return file
  }

  private async storeBlobs (reference: ImageReference, plan: ImportPlan, stored: Map<Digest, StoredFile>, options: RunOptions): Promise<void> {
    const pending: Descriptor[] = []
    for (const [digest, descriptor] of plan.blobs) {
      if (stored.has(digest)) continue
      const file = await this.known(digest, options)
      if (file === undefined) {
        pending.push(descriptor)
        continue
      }
      stored.set(digest, file)
      options.onProgress?.(new CustomProgressEvent('import:blob:skip', { digest, size: descriptor.size }))
    }
    const bytes = { done: 0, total: pending.reduce((sum, d) => sum + d.size, 0) }
    await forEachLimit(pending, this.concurrency, async (descriptor, signal) => {
      stored.set(descriptor.digest, await this.download(reference, descriptor, bytes, { ...options, signal }))
    }, options.signal)
  }

  /** Streams one blob into the blockstore; it enters the digest index only once verified. */
  private async download (reference: ImageReference, descriptor: Descriptor, bytes: { done: number, total: number }, options: RunOptions): Promise<StoredFile> {
    const { digest, size } = descriptor
    options.onProgress?.(new CustomProgressEvent('import:blob:start', { digest, size }))
    const file = await this.storeBlob(reference, descriptor, counting(bytes, options), options)
    await this.components.digestIndex.put(digest, file, options)
    options.onProgress?.(new CustomProgressEvent('import:blob:done', { digest, size, cid: file.cid }))
    return file
  }

  /**
   * Block-sized pieces: one per block through verification, progress and the importer, none
   * copied twice. Both digests (blob, block) come from a hash worker's one look at each piece.
   */
  private async storeBlob (reference: ImageReference, { digest, size }: Descriptor, counted: Counting, options: RunOptions): Promise<StoredFile> {
    const hasher = this.hashes?.session()
    this.downloads++
    try {
      const pieces = this.components.client.getBlob(reference, { digest, size }, {
        ...options, chunkSize: CHUNK_SIZE, hasher, allocate: hasher === undefined ? undefined : () => this.pieces.acquire()
      })
      return await addFile(counted(pieces), options.blocks, {
        signal: options.signal,
        leafDigest: hasher === undefined ? undefined : piece => hasher.pieceDigest(piece),
        onLeafStored: this.reusePieces ? piece => { this.pieces.release(piece) } : undefined
      })
    } finally {
      hasher?.close()
      // an idle importer keeps no buffers
      if (--this.downloads === 0) this.pieces.clear()
    }
  }
}

type Counting = (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>

/** Passes pieces on, adding their bytes to the import's progress. */
function counting (bytes: { done: number, total: number }, options: ImportOptions): Counting {
  return async function * (source) {
    for await (const chunk of source) {
      bytes.done += chunk.byteLength
      options.onProgress?.(new CustomProgressEvent('import:bytes', { done: bytes.done, total: bytes.total }))
      yield chunk
    }
  }
}

export function createImporter (components: ImporterComponents, init: ImporterInit = {}): Importer {
  return new ImageImporter(components, init)
}

// remembered per blockstore so that one-shot importImage() calls with the same components join
const importers = new WeakMap<object, Array<{ components: ImporterComponents, importer: Importer }>>()

/** One-shot form of `createImporter(components).importImage(reference, options)`. */
export async function importImage (reference: string | ImageReference, options: ImportOptions & ImporterComponents & ImporterInit): Promise<ImportedImage> {
  const { client, blockstore, digestIndex } = options
  const known = importers.get(blockstore) ?? []
  importers.set(blockstore, known)
  let entry = known.find(({ components: c }) => c.client === client && c.digestIndex === digestIndex)
  if (entry === undefined) {
    entry = { components: { client, blockstore, digestIndex }, importer: createImporter({ client, blockstore, digestIndex }, options) }
    known.push(entry)
  }
  return entry.importer.importImage(reference, options)
}
