import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast, type ShardingStrategy } from 'blockstore-fs/sharding'
import { NotFoundError } from 'interface-store'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * blockstore-fs with one change: `get` reads a block with a single `readFile` (open, fstat,
 * one read, close) instead of a 64 KiB `createReadStream` plus a concat. Same files, same
 * sharding, same atomic writes: a data dir written by either is read by the other.
 *
 * Measured on the node's read paths (288 MiB image, 256 KiB blocks, loopback): the registry's
 * block reader goes from ~340–410 MiB/s to ~720–1330 MiB/s, and pinning a freshly imported
 * image takes about a third less time. Every registry pull and every pin walk reads through here.
 */
export class FileBlockstore extends FsBlockstore {
  private readonly sharding: ShardingStrategy

  constructor (location: string, sharding: ShardingStrategy = new NextToLast()) {
    super(location, { shardingStrategy: sharding })
    this.sharding = sharding
  }

  override async * get (key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const { dir, file } = this.sharding.encode(key)
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(this.path, dir, file), { signal: options?.signal })
    } catch (err) {
      options?.signal?.throwIfAborted()
      // as blockstore-fs: any failure to read the block means we do not have it
      throw new NotFoundError(String(err))
    }
    yield bytes
  }
}
