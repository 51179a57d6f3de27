import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'

/** The links of a block of this mesh's DAGs: dag-pb nodes have them, raw leaves (and anything else) none */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  return cid.code === dagPb.code ? dagPb.decode(bytes).Links.map(l => l.Hash) : []
}

export function isDagPb (cid: CID): boolean {
  return cid.code === dagPb.code
}

export function uniqueCids (cids: CID[]): CID[] {
  return [...new Map(cids.map(c => [Buffer.from(c.multihash.bytes).toString('base64'), c])).values()]
}
