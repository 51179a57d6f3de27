import { openLayout, parseManifest, platformMatches, parsePlatform, platformDescriptors, type Digest } from '@distromash/multiplatform2ipfs'
import type { Blockstore } from 'interface-blockstore'
import { exporter } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { createHash } from 'node:crypto'

export interface FetchOptions {
  /** The engine's platform; the index's matching manifest is the only one fetched */
  platform: string
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
  /** Blobs fetched at once */
  concurrency?: number
  /** Orders the blobs differently on every peer (its peer ID), see below */
  seed?: string
}

export interface FetchedImage {
  /** Every CID to pin: the layout's directory path (depth 0) and each needed blob (recursive) */
  pins: Array<{ cid: CID, depth?: number }>
  bytes: number
}

/**
 * Brings into the local blockstore what this host needs of an image, and nothing more:
 * index.json, the top manifest, this platform's manifest, its config and layers. Blocks
 * missing locally come from any peer over bitswap (the blockstore is Helia's).
 */
export async function fetchImage (root: CID, blockstore: Blockstore, options: FetchOptions): Promise<FetchedImage> {
  const read = { signal: options.signal }
  const layout = openLayout(root, blockstore)
  const index = await layout.index(read)
  const top = index.manifests[0]
  if (top == null) throw new Error(`image ${root.toString()} has an empty index.json`)
  const needed = await neededBlobs(layout, top.digest as Digest, options.platform, read)
  const blobs = await Promise.all(needed.map(async digest => layout.stat(digest, read)))
  const total = blobs.reduce((sum, b) => sum + b.size, 0)
  let done = 0
  // peers replicating the same image at once start on different blobs, so each soon has
  // something the others lack and bitswap spreads the load instead of all asking the source
  const queue = shuffled(blobs, options.seed ?? '')
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
  const dirs = await layoutDirectories(root, blockstore, read)
  return { pins: [...dirs.map(cid => ({ cid, depth: 0 })), ...blobs.map(b => ({ cid: b.cid }))], bytes: total }
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

function shuffled<T extends { digest: string }> (items: T[], seed: string): T[] {
  const key = (item: T): string => createHash('sha256').update(`${seed}/${item.digest}`).digest('hex')
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : 1))
}
