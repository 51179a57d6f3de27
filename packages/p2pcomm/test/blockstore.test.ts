import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { describe, expect, it } from 'vitest'
import { FileBlockstore } from '../src/blockstore.js'
import { block, blockstoreConformance, dir, read } from './blockstore-conformance.js'

blockstoreConformance('blockstore-fs', path => new FsBlockstore(path))
blockstoreConformance('FileBlockstore', path => new FileBlockstore(path))

describe('FileBlockstore', () => {
  it('reads what blockstore-fs wrote in the same directory, and the other way round', async () => {
    const path = join(await dir(), 'blocks')
    const fs = new FsBlockstore(path)
    const file = new FileBlockstore(path)
    await fs.open()
    await file.open()
    const a = await block(300_000)
    const b = await block(10)
    await fs.put(a.cid, a.bytes)
    await file.put(b.cid, b.bytes)
    expect((await read(file, a.cid)).equals(a.bytes)).toBe(true)
    expect((await read(fs, b.cid)).equals(b.bytes)).toBe(true)
  })

  it('yields a block as one chunk', async () => {
    const store = new FileBlockstore(join(await dir(), 'blocks'))
    await store.open()
    const b = await block(262_144)
    await store.put(b.cid, b.bytes)
    const parts: Uint8Array[] = []
    for await (const part of store.get(b.cid)) parts.push(part)
    expect(parts).toHaveLength(1)
  })
})
