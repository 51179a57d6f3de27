import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { Content, GetOptions } from './content.js'

/**
 * Content seen as the blockstore that code written against interface-blockstore expects (the
 * registry, UnixFS readers, the layout reader): a get yields the block as one chunk, and a
 * missing block is fetched by the backend.
 */
export function contentBlockstore (content: Content, defaults: Pick<GetOptions, 'swarm'> = {}): Pick<Blockstore, 'get' | 'has' | 'put'> {
  return {
    get: async function * (cid: CID, options?: { signal?: AbortSignal }) {
      yield await content.get(cid, { ...defaults, signal: options?.signal })
    },
    has: async (cid, options) => await content.has(cid, options),
    put: async (cid, bytes, options) => {
      await content.put(cid, bytes instanceof Uint8Array ? bytes : await whole(bytes), options)
      return cid
    }
  }
}

/**
 * Only the blocks held here, for a peer's request (the block exchange): a missing block is
 * NotFoundError at once, never looked for on the network.
 */
export function heldBlocks (content: Content): Pick<Blockstore, 'get' | 'has' | 'put'> {
  const view = contentBlockstore(content)
  return {
    ...view,
    get: async function * (cid: CID, options?: { signal?: AbortSignal }) {
      if (!await content.has(cid, options)) throw Object.assign(new Error(`block ${cid.toString()} is not held here`), { name: 'NotFoundError' })
      yield * view.get(cid, options)
    }
  }
}

async function whole (source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return parts.length === 1 ? parts[0] as Uint8Array : Buffer.concat(parts)
}
