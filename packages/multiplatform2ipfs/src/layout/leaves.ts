/*
 * The importer's leaf stage (its `bufferImporter`) for raw leaves, kept in a sliding window.
 *
 * ipfs-unixfs-importer takes `blockWriteConcurrency` leaves, hashes and stores them all, waits for
 * the whole batch and only then reads on: between batches the network waited for the disk and the
 * disk for the network. Here up to `window` leaves are being hashed and stored while the next ones
 * are read; results still come out in order, so blocks and CIDs are the same. A leaf's digest may
 * come from elsewhere (a hashing worker that saw the piece, see HashPool); otherwise it is
 * computed here, as the importer would.
 */
import type { BufferImporter, BufferImporterResult } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Blockstore } from 'interface-blockstore'

export interface LeafOptions {
  /** Leaves hashed and stored at once (default 32) */
  window?: number
  signal?: AbortSignal
  /** The sha256 of a leaf if it was computed elsewhere (undefined: hash it here) */
  leafDigest?: (leaf: Uint8Array) => Promise<Uint8Array> | undefined
  /** Told once a leaf is stored: nothing here reads it again, so its buffer may be reused */
  onLeafStored?: (leaf: Uint8Array) => void
}

const DEFAULT_WINDOW = 32
const EMPTY = new Uint8Array(0)

export function rawLeafImporter (options: LeafOptions = {}): BufferImporter {
  const window = Math.max(1, options.window ?? DEFAULT_WINDOW)
  return async function * leaves (file, blockstore) {
    const inflight: Array<Promise<BufferImporterResult>> = []
    try {
      for await (const leaf of file.content) {
        const stored = storeLeaf(leaf, blockstore, options)
        stored.catch(() => {}) // awaited in order below; a failure must not go unhandled meanwhile
        inflight.push(stored)
        // once the window is full, hand out the oldest: the importer awaits it before asking for more
        const oldest = inflight.length >= window ? inflight.shift() : undefined
        if (oldest !== undefined) yield async () => await oldest
      }
      while (inflight.length > 0) {
        const oldest = inflight.shift() as Promise<BufferImporterResult>
        yield async () => await oldest
      }
    } finally {
      // on a failure or an early stop, nothing may still be writing once the import has returned
      await Promise.allSettled(inflight)
    }
  }
}

async function storeLeaf (leaf: Uint8Array, blockstore: Pick<Blockstore, 'put'>, options: LeafOptions): Promise<BufferImporterResult> {
  const known = options.leafDigest?.(leaf)
  const digest = known !== undefined ? await known : (await sha256.digest(leaf)).digest
  const cid = CID.createV1(raw.code, createDigest(sha256.code, digest))
  await blockstore.put(cid, leaf, { signal: options.signal })
  const size = BigInt(leaf.byteLength)
  options.onLeafStored?.(leaf)
  // `block` is read back only for a single leaf given an mtime or mode, which we never set;
  // a reused buffer is not handed on at all
  return { cid, size, block: options.onLeafStored === undefined ? leaf : EMPTY }
}
