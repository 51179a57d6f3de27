/*
 * What one host needs of an image layout, and nothing more: index.json, the top manifest, the
 * manifest of its own platform (chosen by the importer's rule, matchingManifests), that
 * manifest's config and layers, and the directory nodes leading to them. The layout's paths stay
 * this folder's business (oci-layout.ts, reader.ts); how blocks travel is the caller's.
 */
import { exporter } from 'ipfs-unixfs-exporter'
import { BlobNotFoundError, PlatformNotFoundError } from '../errors.js'
import { matchingManifests, parseManifest } from '../manifest.js'
import { parsePlatform } from '../platform.js'
import { BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, blobPath } from './oci-layout.js'
import { openLayout, type ImageLayout, type LayoutBlob } from './reader.js'
import type { Digest } from '../digest.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export interface PlatformFetchComponents {
  /** Reads the layout's small files and directories (a missing block is fetched by it) */
  blockstore: Pick<Blockstore, 'get'>
  /**
   * Brings every block of these blobs' DAGs here; reports bytes as they arrive and calls
   * `onStarted` once every block is here or on its way, and `onFetched` for each blob once it is
   * here whole (where it can tell). Returns the blocks it had to fetch over a general exchange
   * (bitswap) rather than from the peers it was pointed at.
   */
  fetch: (blobs: CID[], options: { signal?: AbortSignal, onProgress?: (bytes: number) => void, onStarted?: () => void, onFetched?: (blob: CID) => void }) => Promise<{ overBitswap: number }>
}

export interface PlatformFetchOptions {
  /** The engine's platform, e.g. linux/amd64: the index's first matching manifest is the one fetched */
  platform: string
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
  /** Every blob can be read from now on (blocks still arriving are waited for): start `docker pull` here */
  onReadable?: () => void
  /** A needed blob is here whole, before the rest: it can be pinned now (not called by every backend) */
  onBlobFetched?: (blob: CID) => void
}

export interface PlatformContent {
  /** Every CID to pin: the layout's directories and small files (depth 0) and each needed blob (whole) */
  pins: Array<{ cid: CID, depth?: number }>
  /** The needed blobs, top manifest first */
  blobs: LayoutBlob[]
  bytes: number
  overBitswap: number
}

/** Brings what this host's platform needs of the layout `root` here, and says what to pin */
export async function fetchPlatform (root: CID, components: PlatformFetchComponents, options: PlatformFetchOptions): Promise<PlatformContent> {
  const read = { signal: options.signal }
  const layout = openLayout(root, components.blockstore)
  // the blobs directory is fetched while index.json is: each step of the walk is a round trip to a peer
  const [index] = await Promise.all([layout.index(read), exporter(`${root.toString()}/${BLOBS_DIR}`, components.blockstore, read)])
  const top = index.manifests[0]
  if (top == null) throw new BlobNotFoundError(`image ${root.toString()} has an empty index.json`)
  const needed = await platformBlobs(layout, top.digest, options.platform, read)
  const blobs = await Promise.all(needed.map(async digest => await layout.stat(digest, read)))
  const total = blobs.reduce((sum, b) => sum + b.size, 0)
  const { overBitswap } = await components.fetch(blobs.map(b => b.cid), {
    signal: options.signal,
    onStarted: options.onReadable,
    ...(options.onBlobFetched != null ? { onFetched: options.onBlobFetched } : {}),
    onProgress: done => { options.onProgress?.(Math.min(done, total), total) }
  })
  const dirs = await layoutNodes(root, components.blockstore, read)
  return { pins: [...dirs.map(cid => ({ cid, depth: 0 })), ...blobs.map(b => ({ cid: b.cid }))], blobs, bytes: total, overBitswap }
}

/** The digests one platform needs: the top manifest, and its own manifest, config and layers */
export async function platformBlobs (layout: ImageLayout, topDigest: Digest, platform: string, options: { signal?: AbortSignal }): Promise<Digest[]> {
  const top = parseManifest(await layout.readFile(blobPath(topDigest), options))
  if (top.kind === 'manifest') return [topDigest, top.manifest.config.digest, ...top.manifest.layers.map(l => l.digest)]
  const match = matchingManifests(top.index, [parsePlatform(platform)])[0]
  if (match == null) throw new PlatformNotFoundError(`the image has no manifest for ${platform}`)
  const child = parseManifest(await layout.readFile(blobPath(match.digest), options), match.mediaType)
  if (child.kind !== 'manifest') throw new PlatformNotFoundError(`manifest ${match.digest} for ${platform} is not an image manifest`)
  return [topDigest, match.digest, child.manifest.config.digest, ...child.manifest.layers.map(l => l.digest)]
}

/** The root, blobs/ and blobs/sha256/ directory nodes, plus the small index.json and oci-layout files */
async function layoutNodes (root: CID, blockstore: Pick<Blockstore, 'get'>, options: { signal?: AbortSignal }): Promise<CID[]> {
  const paths = ['', '/blobs', `/${BLOBS_DIR}`, `/${INDEX_FILE}`, `/${OCI_LAYOUT_FILE}`]
  return await Promise.all(paths.map(async p => (await exporter(`${root.toString()}${p}`, blockstore, options)).cid))
}
