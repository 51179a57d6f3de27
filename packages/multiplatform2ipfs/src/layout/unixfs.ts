import { importer, type ImporterOptions, type ImportResult } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CHUNK_SIZE, HAMT_THRESHOLD_BYTES, MAX_CHILDREN_PER_NODE } from '../constants.js'
import { rawLeafImporter, type LeafOptions } from './leaves.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/** A file stored as UnixFS: content `size` in bytes, `dagSize` the cumulative block bytes (a link's Tsize). */
export interface StoredFile {
  cid: CID
  size: number
  dagSize: number
}

export interface AddOptions extends Pick<LeafOptions, 'leafDigest' | 'onLeafStored'> {
  signal?: AbortSignal
}

/**
 * Exactly what `ipfs add -r --cid-version=1` does with Kubo's defaults: raw leaves, 256 KiB
 * fixed chunks, balanced DAG of ≤174 links, dag-pb directories sharded past 256 KiB estimated
 * (names + CID bytes), no mode or mtime. A fresh object each time: the importer mutates options.
 */
export function kuboImporterOptions (): ImporterOptions {
  return {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: MAX_CHILDREN_PER_NODE }),
    shardSplitThresholdBytes: HAMT_THRESHOLD_BYTES,
    shardSplitStrategy: 'links-bytes',
    fieldOrder: 'links-first',
    wrapWithDirectory: false
  }
}

/** Streams content into the blockstore as one UnixFS file; the bytes are never held whole. */
export async function addFile (content: AsyncIterable<Uint8Array> | Uint8Array, blockstore: Pick<Blockstore, 'put'>, options: AddOptions = {}): Promise<StoredFile> {
  const source = content instanceof Uint8Array ? content : abortable(content, options.signal)
  let result: ImportResult | undefined
  // leaves stored in a sliding window of their own (see leaves.ts): the importer takes one at a time
  const leaves = rawLeafImporter({ signal: options.signal, leafDigest: options.leafDigest, onLeafStored: options.onLeafStored })
  for await (const entry of importer([{ content: source }], blockstore, { ...kuboImporterOptions(), bufferImporter: leaves, blockWriteConcurrency: 1 })) {
    result = entry
  }
  if (result === undefined) {
    throw new Error('importer produced no result')
  }
  options.signal?.throwIfAborted()
  const dagSize = Number(result.size)
  return { cid: result.cid, size: Number(result.unixfs?.fileSize() ?? result.size), dagSize }
}

/**
 * Builds a directory tree (paths like `blobs/sha256/<hex>`) from files already in the blockstore,
 * without reading them again: the importer's own tree builder (so flat/HAMT choice and link
 * order match Kubo) is fed precomputed file results through its `fileBuilder` hook.
 */
export async function addDirectory (files: Map<string, StoredFile>, blockstore: Pick<Blockstore, 'put'>, options: AddOptions = {}): Promise<StoredFile> {
  const candidates = [...files.keys()].map(path => ({ path, content: [] }))
  const fileBuilder: ImporterOptions['fileBuilder'] = async (file) => {
    const stored = files.get(file.path ?? '')
    if (stored === undefined) {
      throw new Error(`no stored file for path "${file.path}"`)
    }
    return { cid: stored.cid, size: BigInt(stored.dagSize), path: file.path, originalPath: file.originalPath }
  }
  let root: ImportResult | undefined
  for await (const entry of importer(candidates, blockstore, { ...kuboImporterOptions(), wrapWithDirectory: true, fileBuilder })) {
    root = entry
  }
  options.signal?.throwIfAborted()
  if (root === undefined || root.path !== '') {
    throw new Error('importer produced no root directory')
  }
  return { cid: root.cid, size: 0, dagSize: Number(root.size) }
}

async function * abortable (source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    signal?.throwIfAborted()
    yield chunk
  }
}
