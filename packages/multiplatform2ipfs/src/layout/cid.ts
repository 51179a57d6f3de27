import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { digestHex, type Digest } from '../digest.js'

/**
 * A blob of at most one chunk is stored by Kubo as a single raw block, so its CIDv1 is just
 * (raw codec, sha256 multihash of the blob): the OCI digest and the CID name the same bytes.
 */
export function digestToRawCid (digest: Digest): CID {
  return CID.createV1(raw.code, createDigest(sha256.code, Buffer.from(digestHex(digest), 'hex')))
}

/** The OCI digest carried by a raw sha256 CID, or undefined for any other kind of CID. */
export function rawCidToDigest (cid: CID): Digest | undefined {
  if (cid.code !== raw.code || cid.multihash.code !== sha256.code) {
    return undefined
  }
  return `sha256:${Buffer.from(cid.multihash.digest).toString('hex')}`
}
