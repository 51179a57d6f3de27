/*
 * The bytes of a pack and of its index; only this file knows them.
 *
 *   NNNNNNNN.pack   "DMPACK1\n", then block records back to back:
 *                   u8 multihash length | multihash | u32 BE block length | block bytes
 *   NNNNNNNN.idx    index records, appended after the pack bytes they name were fdatasync'd:
 *                   u8 kind | u8 multihash length | multihash | u48 BE offset | u32 BE length | u32 BE crc32
 *                   (kind 1: the block's bytes are at [offset, offset + length) of the pack;
 *                    kind 2: the block was deleted, offset and length are 0). The crc32 covers the
 *                   record before it, so a torn append is recognised and ignored.
 *
 * The pack is self-describing so that blocks written after the last index append (a crash between
 * two commits) can be recovered by scanning the pack tail, each one checked against its multihash.
 */
import { crc32 } from 'node:zlib'

export const PACK_MAGIC = Buffer.from('DMPACK1\n', 'latin1')
export const MAX_MULTIHASH_BYTES = 255

export const KIND_BLOCK = 1
export const KIND_DELETED = 2
export type IndexKind = typeof KIND_BLOCK | typeof KIND_DELETED

export interface IndexRecord {
  kind: IndexKind
  multihash: Uint8Array
  /** Of the block's bytes (after its record header) in the pack */
  offset: number
  length: number
}

/** The header written before a block's bytes in the pack. */
export function blockHeader (multihash: Uint8Array, length: number): Buffer {
  const header = Buffer.allocUnsafe(1 + multihash.byteLength + 4)
  header.writeUInt8(multihash.byteLength, 0)
  header.set(multihash, 1)
  header.writeUInt32BE(length, 1 + multihash.byteLength)
  return header
}

/** Parses the block record starting at `at` of `bytes`; undefined when it does not fit (a torn tail). */
export function parseBlockHeader (bytes: Uint8Array, at: number): { multihash: Uint8Array, offset: number, length: number } | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (at + 1 > view.byteLength) return undefined
  const mhLength = view.readUInt8(at)
  const offset = at + 1 + mhLength + 4
  if (mhLength === 0 || offset > view.byteLength) return undefined
  const length = view.readUInt32BE(at + 1 + mhLength)
  return { multihash: view.subarray(at + 1, at + 1 + mhLength), offset, length }
}

export function encodeIndexRecord (record: IndexRecord): Buffer {
  const size = 2 + record.multihash.byteLength + 6 + 4
  const out = Buffer.allocUnsafe(size + 4)
  out.writeUInt8(record.kind, 0)
  out.writeUInt8(record.multihash.byteLength, 1)
  out.set(record.multihash, 2)
  out.writeUIntBE(record.offset, 2 + record.multihash.byteLength, 6)
  out.writeUInt32BE(record.length, 2 + record.multihash.byteLength + 6)
  out.writeUInt32BE(crc32(out.subarray(0, size)), size)
  return out
}

/** Every whole, intact record of an index file, in order; parsing stops at the first torn or damaged one. */
export function decodeIndex (bytes: Buffer): { records: IndexRecord[], validBytes: number } {
  const records: IndexRecord[] = []
  let at = 0
  while (at + 2 <= bytes.byteLength) {
    const kind = bytes.readUInt8(at)
    const mhLength = bytes.readUInt8(at + 1)
    const size = 2 + mhLength + 6 + 4
    if (at + size + 4 > bytes.byteLength) break
    if (bytes.readUInt32BE(at + size) !== crc32(bytes.subarray(at, at + size))) break
    if (kind !== KIND_BLOCK && kind !== KIND_DELETED) break
    records.push({
      kind,
      multihash: Uint8Array.prototype.slice.call(bytes, at + 2, at + 2 + mhLength),
      offset: bytes.readUIntBE(at + 2 + mhLength, 6),
      length: bytes.readUInt32BE(at + 2 + mhLength + 6)
    })
    at += size + 4
  }
  return { records, validBytes: at }
}
