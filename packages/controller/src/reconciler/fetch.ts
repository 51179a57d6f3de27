import { beforeGet } from '@distromash/p2pcomm'
import { openLayout, parseManifest, platformMatches, parsePlatform, platformDescriptors, type Digest } from '@distromash/multiplatform2ipfs'
import * as dagPb from '@ipld/dag-pb'
import type { Blockstore } from 'interface-blockstore'
import { exporter } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'

/**
 * Fetches blocks from chosen peers into the local blockstore and returns the CIDs it could not
 * get (bitswap then fetches those). `holdersOnly`: small blocks everyone needs first (the
 * DAG's inner nodes), asked of complete holders rather than split among fetching peers.
 */
export type BlockSource = (cids: CID[], options: BlockSourceOptions) => Promise<CID[]>

export interface BlockSourceOptions {
  signal?: AbortSignal
  onBlock?: (cid: CID, bytes: number) => void
  holdersOnly?: boolean
  /** Called once every asked-for block is local or being fetched */
  onStarted?: () => void
}

export interface FetchOptions {
  /** The engine's platform; the index's matching manifest is the only one fetched */
  platform: string
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
  /** Blobs fetched at once */
  concurrency?: number
  /** Where the bulk of the blocks comes from (the swarm of peers replicating the image); bitswap alone without it */
  source?: BlockSource
  /**
   * Called as soon as every blob can be read through p2pcomm's awaitingFetches (blocks still on
   * their way are waited for, not fetched twice): with a source, when its fetch has started.
   * The reconciler starts `docker pull` there, so the engine loads while blocks arrive.
   */
  onReadable?: () => void
}

export interface FetchedImage {
  /** Every CID to pin: the layout's directory path (depth 0) and each needed blob (recursive) */
  pins: Array<{ cid: CID, depth?: number }>
  bytes: number
  /** Leaf blocks the source did not give, fetched over bitswap instead */
  overBitswap: number
}

/**
 * Brings into the local blockstore what this host needs of an image, and nothing more:
 * index.json, the top manifest, this platform's manifest, its config and layers. Every block
 * comes from `source` when given, and over bitswap (the blockstore is Helia's) when the source
 * has not got it or there is no source.
 */
export async function fetchImage (root: CID, networked: Blockstore, options: FetchOptions): Promise<FetchedImage> {
  const read = { signal: options.signal }
  const blockstore = options.source != null ? sourceFirst(networked, options.source) : networked
  const layout = openLayout(root, blockstore)
  // the blobs directory is fetched while index.json is: each step of the walk is a round trip to a peer
  const [index] = await Promise.all([layout.index(read), exporter(`${root.toString()}/blobs/sha256`, blockstore, read)])
  const top = index.manifests[0]
  if (top == null) throw new Error(`image ${root.toString()} has an empty index.json`)
  const needed = await neededBlobs(layout, top.digest as Digest, options.platform, read)
  const blobs = await Promise.all(needed.map(async digest => layout.stat(digest, read)))
  const total = blobs.reduce((sum, b) => sum + b.size, 0)
  const overBitswap = options.source != null ? await fetchFromSource(blobs.map(b => b.cid), blockstore, options.source, total, options) : 0
  if (options.source == null) {
    await readBack(blobs, blockstore, total, options)
    options.onReadable?.()
  }
  const dirs = await layoutDirectories(root, blockstore, read)
  return { pins: [...dirs.map(cid => ({ cid, depth: 0 })), ...blobs.map(b => ({ cid: b.cid }))], bytes: total, overBitswap }
}

/** A block missing locally is asked of the source's holders before the blockstore's bitswap */
function sourceFirst (blockstore: Blockstore, source: BlockSource): Blockstore {
  return beforeGet(blockstore, async (cid, options) => {
    if (!await blockstore.has(cid, options)) await source([cid], { signal: options?.signal, holdersOnly: true })
  })
}

/**
 * Every leaf from the source (verified against its CID as it arrived), then whatever it could
 * not give over bitswap. No read-back: presence of every leaf is checked instead.
 */
async function fetchFromSource (blobs: CID[], blockstore: Blockstore, source: BlockSource, total: number, options: FetchOptions): Promise<number> {
  const read = { signal: options.signal }
  let done = 0
  const leaves = await leavesOf(blobs, blockstore, source, read)
  const gaps = await source(leaves, {
    signal: options.signal,
    onStarted: options.onReadable,
    onBlock: (_, bytes) => { done += bytes; options.onProgress?.(Math.min(done, total), total) }
  })
  const queue = [...gaps]
  const worker = async (): Promise<void> => {
    for (let cid = queue.shift(); cid != null; cid = queue.shift()) await readBlock(blockstore, cid, read)
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker))
  for (const cid of leaves) if (!await blockstore.has(cid, read)) throw new Error(`block ${cid.toString()} is still missing`)
  options.onProgress?.(total, total)
  return gaps.length
}

/** Without a source: read every blob through the blockstore, which fetches over bitswap what is missing */
async function readBack (blobs: Array<{ cid: CID, digest: string }>, blockstore: Blockstore, total: number, options: FetchOptions): Promise<void> {
  const read = { signal: options.signal }
  let done = 0
  const queue = [...blobs]
  const worker = async (): Promise<void> => {
    for (let blob = queue.shift(); blob != null; blob = queue.shift()) {
      const entry = await exporter(blob.cid, blockstore, read)
      if (entry.type !== 'file' && entry.type !== 'raw') throw new Error(`blob ${blob.digest} is not a file`)
      for await (const chunk of entry.content(read)) {
        done += chunk.byteLength
        options.onProgress?.(done, total)
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker))
}

/**
 * The leaf blocks of the blobs' DAGs, in file order, without duplicates. Inner nodes are
 * fetched level by level (a 48 MiB layer has a root and two inner nodes above 192 leaves).
 */
async function leavesOf (roots: CID[], blockstore: Blockstore, source: BlockSource, options: { signal?: AbortSignal }): Promise<CID[]> {
  const children = new Map<string, CID[]>()
  for (let level = unique(roots.filter(isDagPb)); level.length > 0;) {
    await source(level, { signal: options.signal, holdersOnly: true })
    const next: CID[] = []
    for (const cid of level) {
      const links = dagPb.decode(await readBlock(blockstore, cid, options)).Links.map(l => l.Hash)
      children.set(cid.toString(), links)
      next.push(...links.filter(isDagPb))
    }
    level = unique(next)
  }
  const leaves: CID[] = []
  const visit = (cid: CID): void => {
    if (isDagPb(cid)) children.get(cid.toString())?.forEach(visit)
    else leaves.push(cid)
  }
  roots.forEach(visit)
  return unique(leaves)
}

function isDagPb (cid: CID): boolean {
  return cid.code === dagPb.code
}

function unique (cids: CID[]): CID[] {
  return [...new Map(cids.map(c => [c.toString(), c])).values()]
}

async function readBlock (blockstore: Blockstore, cid: CID, options: { signal?: AbortSignal }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blockstore.get(cid, options)) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] as Uint8Array : Buffer.concat(chunks)
}

async function neededBlobs (layout: ReturnType<typeof openLayout>, topDigest: Digest, platform: string, options: { signal?: AbortSignal }): Promise<Digest[]> {
  const top = parseManifest(await layout.readFile(`blobs/sha256/${topDigest.slice(7)}`, options))
  if (top.kind === 'manifest') return [topDigest, top.manifest.config.digest as Digest, ...top.manifest.layers.map(l => l.digest as Digest)]
  const wanted = parsePlatform(platform)
  const match = platformDescriptors(top.index).find(d => d.platform != null && platformMatches(d.platform, wanted))
  if (match == null) throw new Error(`the image has no manifest for ${platform}`)
  const child = parseManifest(await layout.readFile(`blobs/sha256/${match.digest.slice(7)}`, options))
  if (child.kind !== 'manifest') throw new Error(`manifest ${match.digest} for ${platform} is not an image manifest`)
  return [topDigest, match.digest as Digest, child.manifest.config.digest as Digest, ...child.manifest.layers.map(l => l.digest as Digest)]
}

/** The root, blobs/ and blobs/sha256/ directory nodes, plus the small index.json and oci-layout files */
async function layoutDirectories (root: CID, blockstore: Blockstore, options: { signal?: AbortSignal }): Promise<CID[]> {
  const paths = ['', '/blobs', '/blobs/sha256', '/index.json', '/oci-layout']
  return Promise.all(paths.map(async p => (await exporter(`${root.toString()}${p}`, blockstore, options)).cid))
}
