/*
 * A pushed manifest: checked, stored as a blob, and — when it is pushed by tag — turned into an
 * image layout in IPFS whose root is recorded in the catalog and pinned. Child manifests of an
 * index are pushed by digest first (docker, skopeo), so they are found in the digest index.
 */
import { addFile, type StoredFile } from '../layout/unixfs.js'
import { writeLayout } from '../layout/oci-layout.js'
import { DOCKER_FOREIGN_LAYER } from '../media-types.js'
import { isAttestation, parseManifest, type Descriptor, type ParsedManifest } from '../manifest.js'
import { formatPlatform } from '../platform.js'
import { familiarName, parseReference } from '../reference.js'
import { sha256Digest, type Digest } from '../digest.js'
import { DigestMismatchError, InvalidManifestError, ManifestTooLargeError } from '../errors.js'
import { MAX_MANIFEST_BYTES } from '../constants.js'
import { ManifestBlobUnknownError } from './errors.js'
import { readUnixFsFile } from './block-reader.js'
import type { RegistryComponents } from './components.js'
import type { ReadContext } from './storage.js'

export interface ManifestPusher {
  /** Stores the manifest; returns its digest. */
  put(name: string, ref: { tag: string } | { digest: Digest }, body: Uint8Array, contentType: string | undefined, read: ReadContext): Promise<Digest>
  /** Why a tag pushed here could not be recorded (this node is not a writer), or undefined */
  denies(): string | undefined
}

interface Collected {
  blobs: Map<Digest, StoredFile>
  platforms: string[]
}

export function manifestPusher (components: RegistryComponents, importedBy: string): ManifestPusher {
  const { blockstore, digestIndex, catalog } = components

  /** A referenced blob must already be here; foreign layers (with urls) are allowed to be absent. */
  const requireBlob = async (d: Descriptor, into: Map<Digest, StoredFile>, read: ReadContext): Promise<StoredFile | undefined> => {
    const file = await digestIndex.get(d.digest, read)
    if (file !== undefined && await blockstore.has(file.cid, read)) {
      into.set(d.digest, file)
      return file
    }
    if (d.mediaType === DOCKER_FOREIGN_LAYER && (d.urls?.length ?? 0) > 0) return undefined
    throw new ManifestBlobUnknownError(`blob ${d.digest} (${d.mediaType}) is referenced but was not pushed`, { digest: d.digest })
  }

  const collectManifest = async (manifest: ParsedManifest & { kind: 'manifest' }, into: Collected, read: ReadContext): Promise<void> => {
    for (const d of [manifest.manifest.config, ...manifest.manifest.layers]) await requireBlob(d, into.blobs, read)
  }

  const collect = async (parsed: ParsedManifest, read: ReadContext): Promise<Collected> => {
    const into: Collected = { blobs: new Map(), platforms: [] }
    if (parsed.kind === 'manifest') {
      await collectManifest(parsed, into, read)
      into.platforms.push(await configPlatform(parsed.manifest.config.digest, into, read))
      return into
    }
    for (const child of parsed.index.manifests) {
      const file = await requireBlob(child, into.blobs, read)
      if (file === undefined) continue
      // the stored size, not the descriptor's claim: a 250-byte index could name a 300 MiB blob as a child
      if (file.size > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`child manifest ${child.digest} is ${file.size} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`)
      const bytes = Buffer.concat(await all(readUnixFsFile(blockstore, file.cid, read)))
      const childParsed = parseManifest(bytes, child.mediaType)
      if (childParsed.kind !== 'manifest') throw new InvalidManifestError(`nested index ${child.digest} is not supported`)
      await collectManifest(childParsed, into, read)
      if (child.platform !== undefined && !isAttestation(child)) into.platforms.push(formatPlatform(child.platform))
    }
    return into
  }

  /** A single manifest names its platform only in its config. */
  const configPlatform = async (digest: Digest, into: Collected, read: ReadContext): Promise<string> => {
    const file = into.blobs.get(digest)
    if (file === undefined || file.size > MAX_MANIFEST_BYTES) return 'unknown/unknown'
    try {
      const config = JSON.parse(Buffer.concat(await all(readUnixFsFile(blockstore, file.cid, read))).toString('utf8')) as Record<string, unknown>
      const { os, architecture, variant } = config
      if (typeof os !== 'string' || typeof architecture !== 'string') return 'unknown/unknown'
      return formatPlatform(typeof variant === 'string' ? { os, architecture, variant } : { os, architecture })
    } catch {
      return 'unknown/unknown' // an artifact config need not be an image config
    }
  }

  return {
    denies: () => catalog.denies(),
    async put (name, ref, body, contentType, read) {
      const parsed = parseManifest(body, contentType)
      const digest = sha256Digest(body)
      if ('digest' in ref && ref.digest !== digest) {
        throw new DigestMismatchError(`manifest pushed as ${ref.digest} hashes to ${digest}`)
      }
      const collected = await collect(parsed, read)
      const stored = await addFile(body, blockstore, read)
      await digestIndex.put(digest, stored, read)
      if (!('tag' in ref)) return digest
      collected.blobs.set(digest, stored)
      const top = { mediaType: parsed.mediaType, digest, size: body.byteLength }
      const root = await writeLayout({ top, tag: ref.tag, blobs: collected.blobs }, blockstore, read)
      let size = 0
      for (const file of collected.blobs.values()) size += file.size
      await catalog.record({
        name: familiarName(parseReference(name)), tag: ref.tag, cid: root.cid.toString(), digest, mediaType: parsed.mediaType,
        platforms: collected.platforms, size, source: 'push', importedBy, at: new Date().toISOString()
      })
      await components.pins?.add(root.cid)
      components.log?.info({ name, tag: ref.tag, cid: root.cid.toString(), digest }, 'image pushed')
      return digest
    }
  }
}

async function all (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return parts
}
