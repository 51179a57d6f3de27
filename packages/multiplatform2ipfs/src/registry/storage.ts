/*
 * Where the registry's bytes live; handlers never see the layout. A repository name resolves to
 * image layout roots: the name itself when it is a CID, else the catalog's records for it. Blobs
 * are found in those layouts (which works on a node that never imported the image: the blocks
 * come over bitswap) or, for anything pushed or imported locally, through the digest index.
 */
import { MAX_MANIFEST_BYTES } from '../constants.js'
import { InvalidLayoutError } from '../errors.js'
import { parseManifest } from '../manifest.js'
import { blobPath } from '../layout/oci-layout.js'
import { openLayout, type ImageLayout } from '../layout/reader.js'
import { BlobUnknownError, ManifestUnknownError, NameUnknownError } from './errors.js'
import { guardedBlockstore, readUnixFsFile, type ReadableBlockstore } from './block-reader.js'
import { cidFromName } from './names.js'
import type { StallWatchdog } from './watchdog.js'
import type { Digest } from '../digest.js'
import type { RegistryComponents } from './components.js'
import { CID } from 'multiformats/cid'

export interface BlobLocation {
  digest: Digest
  cid: CID
  size: number
}

export interface ManifestContent {
  digest: Digest
  mediaType: string
  bytes: Uint8Array
}

export interface ReadContext {
  /** The request's signal (client disconnect). */
  signal: AbortSignal
  /** Block reads: the request's signal plus the stall timeout. */
  watchdog: StallWatchdog
  readAhead: number
}

export class RegistryStorage {
  constructor (private readonly components: RegistryComponents) {}

  /** The layout roots a name stands for: one for a CID or a tag, each recorded tag's otherwise (lazily). */
  async * roots (name: string, tag?: string): AsyncGenerator<CID> {
    const cid = cidFromName(name)
    if (cid !== undefined) {
      yield cid
      return
    }
    const { catalog } = this.components
    for (const t of tag === undefined ? await catalog.tags(name) : [tag]) {
      const record = await catalog.resolve(name, t)
      if (record !== undefined) yield CID.parse(record.cid) // validated as a CIDv1 string
    }
  }

  async manifestByTag (name: string, tag: string, ctx: ReadContext): Promise<ManifestContent> {
    const root = await first(this.roots(name, tag))
    if (root === undefined) {
      if (await first(this.roots(name)) === undefined) throw new NameUnknownError(`repository ${name} is not known`, { name })
      throw new ManifestUnknownError(`manifest ${name}:${tag} is not known`, { name, tag })
    }
    const layout = this.layout(root, ctx)
    try {
      const top = (await layout.index(ctx)).manifests[0]
      if (top === undefined) throw new InvalidLayoutError('index.json lists no manifest')
      return { digest: top.digest, mediaType: top.mediaType, bytes: await layout.readFile(blobPath(top.digest), ctx) }
    } catch (err) {
      if (!isNotLayout(err)) throw err
      throw new ManifestUnknownError(`${root.toString()} is not a usable image layout: ${(err as Error).message}`, { name, tag })
    }
  }

  async manifestByDigest (name: string, digest: Digest, ctx: ReadContext): Promise<ManifestContent> {
    const location = await this.locate(name, digest, ctx).catch((err: unknown) => {
      if (err instanceof BlobUnknownError) return undefined
      throw err
    })
    if (location === undefined || location.size > MAX_MANIFEST_BYTES) {
      throw new ManifestUnknownError(`manifest ${digest} is not known under ${name}`, { name, digest })
    }
    const bytes = Buffer.concat(await collect(this.read(location, ctx)))
    try {
      return { digest, mediaType: parseManifest(bytes).mediaType, bytes }
    } catch {
      throw new ManifestUnknownError(`${digest} is a blob, not a manifest`, { name, digest })
    }
  }

  /** Finds a blob: the digest index first (local, one lookup), then the name's layouts. */
  async locate (name: string, digest: Digest, ctx: ReadContext): Promise<BlobLocation> {
    const indexed = await this.components.digestIndex.get(digest, ctx)
    // as in the importer: an index entry counts only while its blocks are still here
    if (indexed !== undefined && await this.components.blockstore.has(indexed.cid, ctx)) {
      return { digest, cid: indexed.cid, size: indexed.size }
    }
    for await (const root of this.roots(name)) {
      try {
        return await this.layout(root, ctx).stat(digest, ctx)
      } catch (err) {
        if (!isNotLayout(err)) throw err
      }
    }
    throw new BlobUnknownError(`blob ${digest} is not known under ${name}`, { digest })
  }

  read (location: BlobLocation, ctx: ReadContext, range: { offset?: number, length?: number } = {}): AsyncGenerator<Uint8Array> {
    return readUnixFsFile(this.components.blockstore, location.cid, { ...ctx, ...range })
  }

  /** Tags of a repository; for a CID name, the tag its layout was made for. */
  async tags (name: string, ctx: ReadContext): Promise<string[]> {
    const cid = cidFromName(name)
    if (cid === undefined) return this.components.catalog.tags(name)
    const index = await this.layout(cid, ctx).index(ctx).catch((err: unknown) => {
      if (!isNotLayout(err)) throw err
      throw new NameUnknownError(`${name} is not an image layout`, { name })
    })
    const tag = index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']
    return [tag ?? 'latest']
  }

  private layout (root: CID, ctx: ReadContext): ImageLayout {
    const blockstore: ReadableBlockstore = guardedBlockstore(this.components.blockstore, ctx)
    return openLayout(root, blockstore)
  }
}

async function first<T> (source: AsyncGenerator<T>): Promise<T | undefined> {
  const next = await source.next()
  await source.return(undefined)
  return next.done === true ? undefined : next.value
}

/** Errors that mean "this is not (in) an image layout", as opposed to timeouts and aborts. */
function isNotLayout (err: unknown): boolean {
  return ['BlobNotFoundError', 'InvalidLayoutError', 'NotUnixFSError', 'NoResolverError', 'NotFoundError'].includes((err as Error).name)
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return parts
}
