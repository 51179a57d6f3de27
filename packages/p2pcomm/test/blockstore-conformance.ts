/*
 * One conformance suite for every blockstore the node may use: the cases of interface-blockstore's
 * suite that matter here, run against blockstore-fs (which the others must behave as) and ours.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'

export async function block (size = 1000): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

export async function read (store: Blockstore, cid: CID): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of store.get(cid)) parts.push(part)
  return Buffer.concat(parts)
}

type OpenableBlockstore = Blockstore & { open: () => Promise<void>, close?: () => Promise<void> }

const dirs: string[] = []
const stores: OpenableBlockstore[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close?.()
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

export async function dir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'p2pcomm-blockstore-'))
  dirs.push(d)
  return d
}

/** The interface-blockstore suite's cases, for the store and for blockstore-fs, which it must behave as. */
export function blockstoreConformance (name: string, make: (path: string) => OpenableBlockstore): void {
  describe(`${name} conformance`, () => {
    const open = async (): Promise<Blockstore> => {
      const store = make(join(await dir(), 'blocks'))
      await store.open()
      stores.push(store)
      return store
    }

    it('puts, has, gets (a 256 KiB block and an empty one) and deletes', async () => {
      const store = await open()
      for (const b of [await block(262_144), await block(0)]) {
        expect(await store.has(b.cid)).toBe(false)
        expect(await store.put(b.cid, b.bytes)).toEqual(b.cid)
        expect(await store.has(b.cid)).toBe(true)
        expect((await read(store, b.cid)).equals(b.bytes)).toBe(true)
        await store.delete(b.cid)
        expect(await store.has(b.cid)).toBe(false)
      }
    })

    it('throws NotFoundError for a missing block, and deleting one is not an error', async () => {
      const store = await open()
      const b = await block()
      await expect(read(store, b.cid)).rejects.toMatchObject({ name: 'NotFoundError' })
      await expect(store.delete(b.cid)).resolves.toBeUndefined()
    })

    it('overwrites a block in place', async () => {
      const store = await open()
      const b = await block()
      await store.put(b.cid, b.bytes)
      await store.put(b.cid, b.bytes)
      expect((await read(store, b.cid)).equals(b.bytes)).toBe(true)
    })

    it('puts, gets and deletes many, and lists them all', async () => {
      const store = await open()
      const blocks = await Promise.all(Array.from({ length: 30 }, async () => block(100)))
      const put: CID[] = []
      for await (const cid of store.putMany(blocks)) put.push(cid)
      expect(put.map(String).sort()).toEqual(blocks.map(b => b.cid.toString()).sort())
      const got = new Map<string, Buffer>()
      for await (const pair of store.getMany(blocks.map(b => b.cid))) {
        const parts: Uint8Array[] = []
        for await (const part of pair.bytes) parts.push(part)
        got.set(pair.cid.toString(), Buffer.concat(parts))
      }
      for (const b of blocks) expect(got.get(b.cid.toString())?.equals(b.bytes)).toBe(true)
      const all: string[] = []
      // stores keep only the multihash: getAll gives CIDs that name the same bytes
      for await (const pair of store.getAll()) all.push(CID.createV1(raw.code, pair.cid.multihash).toString())
      expect(all.sort()).toEqual(blocks.map(b => b.cid.toString()).sort())
      for await (const _ of store.deleteMany(blocks.map(b => b.cid))) { /* drain */ }
      for (const b of blocks) expect(await store.has(b.cid)).toBe(false)
    })

    it('honours an aborted signal', async () => {
      const store = await open()
      const b = await block()
      await store.put(b.cid, b.bytes)
      const signal = AbortSignal.abort()
      await expect((async () => { for await (const _ of store.get(b.cid, { signal })) { /* drain */ } })()).rejects.toThrow()
    })
  })
}

