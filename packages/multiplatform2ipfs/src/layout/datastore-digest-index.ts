import { Key, type Datastore } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { digestHex, type Digest } from '../digest.js'
import type { DigestIndex, DigestIndexOptions } from './digest-index.js'
import type { StoredFile } from './unixfs.js'

interface Record {
  cid: string
  size: number
  dagSize: number
}

/** A digest index persisted in any `interface-datastore` (keys `/<prefix>/sha256/<hex>`, JSON values). */
class DatastoreDigestIndex implements DigestIndex {
  constructor (private readonly datastore: Datastore, private readonly prefix: string) {}

  private key (digest: Digest): Key {
    return new Key(`/${this.prefix}/sha256/${digestHex(digest)}`)
  }

  async get (digest: Digest, options: DigestIndexOptions = {}): Promise<StoredFile | undefined> {
    const key = this.key(digest)
    if (!(await this.datastore.has(key, options))) {
      return undefined
    }
    const record = JSON.parse(new TextDecoder().decode(await this.datastore.get(key, options))) as Record
    return { cid: CID.parse(record.cid), size: record.size, dagSize: record.dagSize }
  }

  async put (digest: Digest, file: StoredFile, options: DigestIndexOptions = {}): Promise<void> {
    const record: Record = { cid: file.cid.toString(), size: file.size, dagSize: file.dagSize }
    await this.datastore.put(this.key(digest), new TextEncoder().encode(JSON.stringify(record)), options)
  }

  async delete (digest: Digest, options: DigestIndexOptions = {}): Promise<void> {
    await this.datastore.delete(this.key(digest), options)
  }
}

export function datastoreDigestIndex (datastore: Datastore, options: { prefix?: string } = {}): DigestIndex {
  return new DatastoreDigestIndex(datastore, options.prefix ?? 'mp2ipfs-digests')
}
