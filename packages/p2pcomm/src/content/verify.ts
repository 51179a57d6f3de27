import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import type { CID } from 'multiformats/cid'
import { InvalidBlockError } from './content.js'

/** Rejects unless `bytes` hash to the CID's multihash (sha2-256 or identity: all a mesh stores) */
export async function checkBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  const { code, digest } = cid.multihash
  let actual: Uint8Array
  if (code === sha256.code) actual = (await sha256.digest(bytes)).digest
  else if (code === identity.code) actual = bytes
  else throw new InvalidBlockError(`block ${cid.toString()}: unsupported hash 0x${code.toString(16)}`)
  if (!equals(actual, digest)) throw new InvalidBlockError(`bytes are not block ${cid.toString()}`)
}

/** Blocks are the same whatever the CID version or codec: key them by multihash */
export function blockKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}
