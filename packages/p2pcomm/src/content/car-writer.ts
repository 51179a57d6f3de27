import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import type { AbortOptions, BlockWriter } from './content.js'
import { blockKey, checkBlock } from './verify.js'

export interface CarWriterInit {
  /** The caller computed every CID from its bytes (see PutOptions.hashed) */
  hashed?: boolean
  /** Whether a block is already held where the CAR goes */
  has: (cid: CID, options?: AbortOptions) => Promise<boolean>
}

/** Sends one CAR stream (e.g. as the body of Kubo's `dag import`); resolves once the far side has stored it */
export type CarSender = (car: AsyncIterable<Uint8Array>, signal: AbortSignal) => Promise<void>

interface Queued {
  frame: Uint8Array
  taken: () => void
  failed: (err: unknown) => void
}

/**
 * A BlockWriter whose blocks go out as one CARv1 stream, started with the first block (the
 * header names it as the root; nothing is pinned by it). A put copies the block into its CAR
 * section, so the caller may reuse its buffer, and resolves when the stream has taken the
 * section: a writer that outruns the far side waits, it does not buffer an image in memory.
 */
export function carWriter (send: CarSender, init: CarWriterInit): BlockWriter {
  const queue: Queued[] = []
  const written = new Set<string>()
  const controller = new AbortController()
  let wake: (() => void) | undefined
  let closed = false
  let failure: unknown
  let sending: Promise<void> | undefined

  const fail = (err: unknown): void => {
    failure ??= err
    for (const item of queue.splice(0)) item.failed(failure)
    wake?.()
  }
  async function * car (root: CID): AsyncGenerator<Uint8Array> {
    yield section(dagCbor.encode({ roots: [root], version: 1 }))
    for (;;) {
      while (queue.length === 0 && !closed && failure == null) await new Promise<void>(resolve => { wake = resolve })
      wake = undefined
      if (failure != null) throw failure
      const item = queue.shift()
      if (item == null) return
      yield item.frame
      item.taken()
    }
  }
  return {
    async put (cid, bytes) {
      if (failure != null) throw failure
      if (closed) throw new Error('the block writer is closed')
      if (init.hashed !== true) await checkBlock(cid, bytes)
      const frame = blockSection(cid, bytes)
      written.add(blockKey(cid))
      sending ??= send(car(cid), controller.signal).catch(fail)
      await new Promise<void>((resolve, reject) => {
        queue.push({ frame, taken: resolve, failed: reject })
        wake?.()
      })
    },
    async has (cid, options) {
      return written.has(blockKey(cid)) || await init.has(cid, options)
    },
    async close () {
      closed = true
      wake?.()
      await sending
      if (failure != null) throw failure
    },
    abort (reason) {
      fail(reason ?? new Error('block writer aborted'))
      controller.abort(reason)
    }
  }
}

/** A CAR section: varint length, then the bytes */
function section (bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(varint.encodingLength(bytes.byteLength) + bytes.byteLength)
  varint.encodeTo(bytes.byteLength, out)
  out.set(bytes, out.byteLength - bytes.byteLength)
  return out
}

/** A block's CAR section: varint length, CID, bytes (a copy) */
function blockSection (cid: CID, bytes: Uint8Array): Uint8Array {
  const length = cid.bytes.byteLength + bytes.byteLength
  const head = varint.encodingLength(length)
  const out = new Uint8Array(head + length)
  varint.encodeTo(length, out)
  out.set(cid.bytes, head)
  out.set(bytes, head + cid.bytes.byteLength)
  return out
}
