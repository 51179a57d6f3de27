import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Uint8ArrayList } from 'uint8arraylist'
import { equals } from 'uint8arrays/equals'

/**
 * Wire format of /distromash/blocks/1.0.0, on one length-prefixed stream per request:
 *   requester → responder  one frame: JSON {"cids": ["bafk…", …]} (at most MAX_BATCH), and
 *                          "spare": true for a request to be answered only with upload to spare
 *                          (a responder older than the flag ignores it and answers as usual)
 *   responder → requester  per CID, in order: frame [1] then a frame with the block's bytes,
 *                          or frame [0] when it does not have the block (after waiting, see exchange.ts)
 *                          or, for a spare request, when others' requests fill its upload
 * Blocks are content-addressed: the requester hashes every block and drops it unless it
 * matches the CID it asked for, so a responder can never plant bytes.
 */
export const MAX_BATCH = 16
/** Our blocks are at most 256 KiB (raw leaves) plus small dag-pb nodes; Kubo's own limit is 1 MiB for a chunk */
export const MAX_BLOCK_BYTES = 1024 * 1024 + 1024
export const MAX_REQUEST_BYTES = MAX_BATCH * 128 + 64
export const HAVE = Uint8Array.of(1)
export const DONT_HAVE = Uint8Array.of(0)

const RAW_CODEC = 0x55
const DAG_PB_CODEC = 0x70

export class BlockRequestError extends Error {
  override name = 'BlockRequestError'
}

export interface BlockRequest {
  cids: CID[]
  /** Answer only while no other request is being answered; "don't have" otherwise */
  spare: boolean
}

export function encodeRequest (cids: CID[], options: { spare?: boolean } = {}): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ cids: cids.map(c => c.toString()), ...(options.spare === true ? { spare: true } : {}) }))
}

/** Only what this mesh stores is served: raw and dag-pb blocks named by a sha256 multihash */
export function decodeRequest (bytes: Uint8Array): BlockRequest {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new BlockRequestError('request is not JSON')
  }
  const cids = (parsed as { cids?: unknown })?.cids
  if (!Array.isArray(cids) || cids.length === 0 || cids.length > MAX_BATCH) throw new BlockRequestError(`request must carry 1–${MAX_BATCH} cids`)
  const spare = (parsed as { spare?: unknown }).spare ?? false
  if (typeof spare !== 'boolean') throw new BlockRequestError('spare must be true or false')
  return { cids: cids.map(parseServableCid), spare }
}

function parseServableCid (value: unknown): CID {
  if (typeof value !== 'string') throw new BlockRequestError('cid must be a string')
  let cid: CID
  try {
    cid = CID.parse(value)
  } catch {
    throw new BlockRequestError(`invalid cid ${value.slice(0, 100)}`)
  }
  if (!isServable(cid)) throw new BlockRequestError(`unsupported cid ${value}`)
  return cid
}

export function isServable (cid: CID): boolean {
  return (cid.code === RAW_CODEC || cid.code === DAG_PB_CODEC) && cid.multihash.code === sha256.code
}

/**
 * True when the bytes are the block the CID names. A block read off a stream is a list of the
 * frames it arrived in: hashed part by part, never joined (a 256 KiB copy per block).
 */
export async function verifyBlock (cid: CID, bytes: Uint8Array | Uint8ArrayList): Promise<boolean> {
  if (!isServable(cid) || bytes.byteLength > MAX_BLOCK_BYTES) return false
  const hash = createHash('sha256')
  for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) hash.update(part)
  return equals(hash.digest(), cid.multihash.digest)
}
