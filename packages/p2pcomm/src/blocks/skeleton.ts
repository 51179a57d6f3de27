/*
 * A DAG's skeleton in one round trip: /distromash/skeleton/1.0.0.
 *
 * Read block by block from a peer, an image layout costs a round trip per level before the first
 * leaf is asked for: the root, blobs/, blobs/sha256/, the manifest, each layer's root, its inner
 * nodes. On a seed busy loading the image into its own engine each took ~0.5 s
 * (bench/distribution, 100 Mbit/s): the pullers asked for their first leaves 3.4 s after the
 * strategy; with the skeleton, 1.0–1.3 s.
 *
 * The skeleton is what a reader walks before it reaches file contents: every dag-pb node under
 * the root, and the files a directory names that are a single raw block (index.json, manifests,
 * configs). Leaves of multi-block files are left out: they are the transfer, which the swarm
 * splits (swarm-fetch.ts).
 *
 * Wire, on one length-prefixed stream:
 *   requester → responder  one frame: the root's CID bytes
 *   responder → requester  per block, parents before children: a frame with its CID's bytes and
 *                          one with the block; then an empty frame. Only blocks it holds, at most
 *                          MAX_SKELETON_BLOCKS and MAX_SKELETON_BYTES.
 * The requester keeps a block only when its bytes hash to its CID and the CID is the root or a link
 * of a block it kept: a peer can neither plant bytes nor fill the store with blocks from elsewhere.
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { BlockRequestError, isServable, verifyBlock } from './protocol.js'

export const MAX_SKELETON_BLOCKS = 4096
export const MAX_SKELETON_BYTES = 16 * 1024 * 1024
/** A CIDv1 with a sha256 multihash is 36 bytes; anything much longer is not one we serve */
export const MAX_CID_BYTES = 128
/** Ends a skeleton: no CID is empty */
export const END_OF_SKELETON = new Uint8Array(0)

export interface SkeletonLimits { blocks: number, bytes: number }

const LIMITS: SkeletonLimits = { blocks: MAX_SKELETON_BLOCKS, bytes: MAX_SKELETON_BYTES }

/**
 * The skeleton under `root`, parents before children (breadth first), as far as `read` has it:
 * a block it does not hold is skipped with everything under it. Ends at the limits. The next
 * `readAhead` blocks are read while one is sent: read one by one, the 36 blocks of a 702 MiB
 * image took a busy seed 0.4 s, each read waiting its turn on the event loop (bench/distribution).
 */
export async function * skeletonOf (root: CID, read: (cid: CID) => Promise<Uint8Array | undefined>, limits: SkeletonLimits = LIMITS, readAhead = READ_AHEAD): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
  const queue = [root]
  const seen = new Set([keyOf(root)])
  const reads = new Map<number, Promise<Uint8Array | undefined>>()
  let [blocks, bytes] = [0, 0]
  for (let i = 0; i < queue.length; i++) {
    for (let next = i; next < Math.min(queue.length, i + readAhead); next++) {
      if (reads.has(next)) continue
      const reading = read(queue[next] as CID)
      reading.catch(() => {}) // awaited in turn below; one failing early must not be unhandled
      reads.set(next, reading)
    }
    const cid = queue[i] as CID
    const block = await reads.get(i)
    reads.delete(i)
    if (block == null) continue
    if (blocks + 1 > limits.blocks || bytes + block.byteLength > limits.bytes) return
    blocks++
    bytes += block.byteLength
    yield { cid, bytes: block }
    for (const link of skeletonLinks(cid, block)) {
      if (seen.has(keyOf(link))) continue
      seen.add(keyOf(link))
      queue.push(link)
    }
  }
}

/** Blocks of a skeleton read at once (the small nodes above an image's leaves) */
const READ_AHEAD = 16

/** The links of a block that belong to the skeleton: every dag-pb child, and raw ones only under a directory (whole files) */
function skeletonLinks (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code !== dagPb.code) return []
  const node = dagPb.decode(bytes)
  const directory = isDirectory(node)
  return node.Links.map(link => link.Hash).filter(link => link.code === dagPb.code || directory)
}

function isDirectory (node: dagPb.PBNode): boolean {
  if (node.Data == null) return false
  try {
    const { type } = UnixFS.unmarshal(node.Data)
    return type === 'directory' || type === 'hamt-sharded-directory'
  } catch {
    return false // not UnixFS: its raw children are not known to be whole files
  }
}

/** The root named by a skeleton request; BlockRequestError when it is not a CID this mesh serves */
export function decodeSkeletonRequest (bytes: Uint8Array): CID {
  const cid = decodeCid(bytes)
  if (!isServable(cid)) throw new BlockRequestError(`unsupported cid ${cid.toString()}`)
  return cid
}

/** What a requester checks of a skeleton as it arrives */
export class SkeletonCheck {
  private readonly expected = new Set<string>()
  private blocks = 0
  private bytes = 0

  constructor (root: CID, private readonly limits: SkeletonLimits = LIMITS) {
    this.expected.add(keyOf(root))
  }

  /** The next block's CID, from its frame: it must hang under the root by a block already kept */
  cid (frame: Uint8Array): CID {
    const cid = decodeCid(frame)
    if (!isServable(cid)) throw new BlockRequestError(`unsupported cid ${cid.toString()}`)
    if (!this.expected.has(keyOf(cid))) throw new BlockRequestError(`block ${cid.toString()} is not under the requested root`)
    return cid
  }

  /** Checks the block's bytes and limits; its links may come next */
  async accept (cid: CID, bytes: Uint8Array): Promise<void> {
    this.blocks++
    this.bytes += bytes.byteLength
    if (this.blocks > this.limits.blocks || this.bytes > this.limits.bytes) throw new BlockRequestError('skeleton larger than its limits')
    if (!await verifyBlock(cid, bytes)) throw new BlockRequestError(`peer sent bytes that are not block ${cid.toString()}`)
    if (cid.code !== dagPb.code) return
    try {
      for (const link of dagPb.decode(bytes).Links) this.expected.add(keyOf(link.Hash))
    } catch {
      throw new BlockRequestError(`block ${cid.toString()} is not a dag-pb node`)
    }
  }
}

function decodeCid (bytes: Uint8Array): CID {
  try {
    return CID.decode(bytes)
  } catch {
    throw new BlockRequestError('frame is not a CID')
  }
}

/** Blocks are the same whatever the CID version: key them by multihash */
function keyOf (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}
