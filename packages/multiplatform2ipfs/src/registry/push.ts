/*
 * A pushed manifest: checked, stored as a blob, and — when it is pushed by tag — turned into an
 * image layout in IPFS whose root is recorded in the catalog and pinned. Child manifests of an
 * index are pushed by digest first (docker, skopeo), so they are found in the digest index. A
 * manifest with a `subject` is indexed as one of its subject's referrers.
 */
import { addFile, type StoredFile } from '../layout/unixfs.js'
import { writeLayout } from '../layout/oci-layout.js'
import { isAttestation, parseManifest, type Descriptor, type ParsedManifest } from '../manifest.js'
import { formatPlatform } from '../platform.js'
import { familiarName, parseReference } from '../reference.js'
import { sha256Digest, type Digest } from '../digest.js'
import { DigestMismatchError, InvalidManifestError, ManifestTooLargeError } from '../errors.js'
import { MAX_MANIFEST_BYTES } from '../constants.js'
import { ManifestBlobUnknownError } from './errors.js'
import { readUnixFsFile } from './block-reader.js'
import type { RegistryComponents } from './components.js'
import { referrerOf, subjectOf } from './referrers.js'
import type { ReferrersIndex } from './referrers-index.js'
import type { ReadContext } from './storage.js'

export interface PushedManifest {
  digest: Digest
  /** The manifest's `subject`, which the response names in `OCI-Subject` */
  subject?: Digest
  /** The tags recorded for it */
  tags?: string[]
}

/** A push by digest may name tags too (`?tag=a&tag=b`); each costs a layout, so only this many */
export const MAX_TAG_PARAMS = 16

/** What a manifest is pushed as: a tag, or a digest with any tags to record for it */
export type PushReference = { tag: string } | { digest: Digest, tags?: string[] }

/** An index may list indexes (an index of indexes), this many levels deep at most */
export const MAX_INDEX_DEPTH = 4

export interface ManifestPusher {
  /** Stores the manifest; returns its digest (and subject). */
  put(name: string, ref: PushReference, body: Uint8Array, contentType: string | undefined, read: ReadContext): Promise<PushedManifest>
  /** Why a tag pushed here could not be recorded (this node is not a writer), or undefined */
  denies(): string | undefined
}

interface Collected {
  blobs: Map<Digest, StoredFile>
  platforms: string[]
}

export function manifestPusher (components: RegistryComponents, importedBy: string, referrers: ReferrersIndex): ManifestPusher {
  const { blockstore, digestIndex, catalog } = components

  /**
   * A referenced blob must already be here. Only a layer that names `urls` (a foreign or
   * non-distributable layer: Docker's foreign type, OCI's deprecated nondistributable ones) may
   * be absent: clients fetch it from those URLs, and nothing here is ever served under its digest.
   */
  const requireBlob = async (d: Descriptor, into: Map<Digest, StoredFile>, read: ReadContext, layer = false): Promise<StoredFile | undefined> => {
    const file = await digestIndex.get(d.digest, read)
    if (file !== undefined && await blockstore.has(file.cid, read)) {
      into.set(d.digest, file)
      return file
    }
    if (layer && (d.urls?.length ?? 0) > 0) return undefined
    throw new ManifestBlobUnknownError(`blob ${d.digest} (${d.mediaType}) is referenced but was not pushed`, { digest: d.digest })
  }

  const collectManifest = async (manifest: ParsedManifest & { kind: 'manifest' }, into: Collected, read: ReadContext): Promise<void> => {
    await requireBlob(manifest.manifest.config, into.blobs, read)
    for (const d of manifest.manifest.layers) await requireBlob(d, into.blobs, read, true)
  }

  /** Every child of an index, and theirs when a child is an index itself, down to MAX_INDEX_DEPTH. */
  const collectIndex = async (index: ParsedManifest & { kind: 'index' }, into: Collected, read: ReadContext, depth: number): Promise<void> => {
    for (const child of index.index.manifests) {
      if (into.blobs.has(child.digest)) continue // listed twice (or by two indexes): collected once
      const file = await requireBlob(child, into.blobs, read)
      if (file === undefined) continue
      // the stored size, not the descriptor's claim: a 250-byte index could name a 300 MiB blob as a child
      if (file.size > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`child manifest ${child.digest} is ${file.size} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`)
      const bytes = Buffer.concat(await all(readUnixFsFile(blockstore, file.cid, read)))
      const childParsed = parseManifest(bytes, child.mediaType)
      if (childParsed.kind === 'index') {
        if (depth >= MAX_INDEX_DEPTH) throw new InvalidManifestError(`index ${child.digest} is nested more than ${MAX_INDEX_DEPTH} levels deep`)
        await collectIndex(childParsed, into, read, depth + 1)
        continue
      }
      await collectManifest(childParsed, into, read)
      if (child.platform !== undefined && !isAttestation(child)) into.platforms.push(formatPlatform(child.platform))
    }
  }

  const collect = async (parsed: ParsedManifest, read: ReadContext): Promise<Collected> => {
    const into: Collected = { blobs: new Map(), platforms: [] }
    if (parsed.kind === 'manifest') {
      await collectManifest(parsed, into, read)
      into.platforms.push(await configPlatform(parsed.manifest.config.digest, into, read))
      return into
    }
    await collectIndex(parsed, into, read, 1)
    into.platforms = [...new Set(into.platforms)]
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
      const subject = subjectOf(parsed)
      const collected = await collect(parsed, read)
      const stored = await addFile(body, blockstore, read)
      await digestIndex.put(digest, stored, read)
      // the subject need not be here (a referrer may come first); only the referrer is stored
      if (subject !== undefined) await referrers.add(name, subject.digest, referrerOf(parsed, digest, body.byteLength), read)
      const pushed: PushedManifest = subject !== undefined ? { digest, subject: subject.digest } : { digest }
      const tags = 'tag' in ref ? [ref.tag] : ref.tags ?? []
      if (tags.length === 0) return pushed
      collected.blobs.set(digest, stored)
      const top = { mediaType: parsed.mediaType, digest, size: body.byteLength }
      let size = 0
      for (const file of collected.blobs.values()) size += file.size
      // one layout per tag: the tag is part of the layout (index.json's ref.name), as in an import
      for (const tag of tags) {
        const root = await writeLayout({ top, tag, blobs: collected.blobs }, blockstore, read)
        await catalog.record({
          name: familiarName(parseReference(name)), tag, cid: root.cid.toString(), digest, mediaType: parsed.mediaType,
          platforms: collected.platforms, size, source: 'push', importedBy, at: new Date().toISOString()
        })
        await components.pins?.add(root.cid)
        components.log?.info({ name, tag, cid: root.cid.toString(), digest }, 'image pushed')
      }
      return { ...pushed, tags }
    }
  }
}

async function all (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return parts
}
