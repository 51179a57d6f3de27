import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { describe, expect, it } from 'vitest'
import { CHUNK_SIZE } from '../src/constants.js'
import { parseDigest, sha256Digest } from '../src/digest.js'
import { digestToRawCid, rawCidToDigest } from '../src/layout/cid.js'
import { addDirectory, addFile, kuboImporterOptions, type StoredFile } from '../src/layout/unixfs.js'
import { deterministicBytes, toChunks } from './helpers/bytes.js'

async function block (bs: MemoryBlockstore, cid: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of bs.get(cid)) parts.push(part)
  return Buffer.concat(parts)
}

describe('CID ↔ digest', () => {
  const cid = 'bafkreiea22xmjdakorrvuxz5yeddfdawoox2uipnnyjhbknejxtg5d72ku'
  const digest = parseDigest('sha256:80d6aec48c0a74635a5f3dc106328c1673afaa21ed6e1270a9a44de66e8ffa55')

  it('converts the test vector both ways', () => {
    expect(digestToRawCid(digest).toString()).toBe(cid)
    expect(rawCidToDigest(CID.parse(cid))).toBe(digest)
  })

  it('gives no digest for a dag-pb CID', () => {
    expect(rawCidToDigest(CID.parse('bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354'))).toBeUndefined()
  })
})

describe('Kubo vectors (ipfs add --cid-version=1)', () => {
  it('empty file is the raw CID of sha256("")', async () => {
    const bs = new MemoryBlockstore()
    const file = await addFile(new Uint8Array(0), bs)
    expect(file.cid.toString()).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    expect(file).toMatchObject({ size: 0, dagSize: 0 })
  })

  it('"hello world" is a single raw block', async () => {
    const file = await addFile(new TextEncoder().encode('hello world'), new MemoryBlockstore())
    expect(file.cid.toString()).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  })

  it('empty directory', async () => {
    const dir = await addDirectory(new Map(), new MemoryBlockstore())
    expect(dir.cid.toString()).toBe('bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354')
  })
})

describe('addFile', () => {
  it('stores a blob of exactly one chunk as one raw block named by its own sha256', async () => {
    const bytes = deterministicBytes(CHUNK_SIZE, 1)
    const bs = new MemoryBlockstore()
    const file = await addFile(toChunks(bytes, 1000), bs)
    expect(file.cid.code).toBe(raw.code)
    expect(rawCidToDigest(file.cid)).toBe(sha256Digest(bytes))
    expect(file).toMatchObject({ size: CHUNK_SIZE, dagSize: CHUNK_SIZE })
  })

  it('lays out a blob of several chunks as a dag-pb file over 256 KiB raw leaves', async () => {
    const bytes = deterministicBytes(CHUNK_SIZE * 3 + 5, 2)
    const bs = new MemoryBlockstore()
    const file = await addFile(toChunks(bytes, 65_537), bs)
    expect(file.cid.code).toBe(dagPb.code)
    const root = dagPb.decode(await block(bs, file.cid))
    const unixfs = UnixFS.unmarshal(root.Data ?? new Uint8Array())
    expect(unixfs.type).toBe('file')
    expect(unixfs.fileSize()).toBe(BigInt(bytes.length))
    expect(unixfs.blockSizes).toEqual([262144n, 262144n, 262144n, 5n])
    // exactly type + filesize + blocksizes: no mode, no mtime
    const expectedData = new UnixFS({ type: 'file', blockSizes: [262144n, 262144n, 262144n, 5n] }).marshal()
    expect(Buffer.from(root.Data ?? []).toString('hex')).toBe(Buffer.from(expectedData).toString('hex'))
    expect(root.Links.map(l => [l.Name, l.Tsize, l.Hash.code])).toEqual([['', 262144, raw.code], ['', 262144, raw.code], ['', 262144, raw.code], ['', 5, raw.code]])
    expect(root.Links[0]?.Hash.equals(digestToRawCid(sha256Digest(bytes.subarray(0, CHUNK_SIZE))))).toBe(true)
    const rootBlock = await block(bs, file.cid)
    expect(file.dagSize).toBe(rootBlock.length + bytes.length)
    expect(file.size).toBe(bytes.length)
  })

  it('balances past 174 leaves into a second level', async () => {
    const bytes = deterministicBytes(CHUNK_SIZE * 175 + 1, 3)
    const bs = new MemoryBlockstore()
    const file = await addFile(toChunks(bytes, CHUNK_SIZE), bs)
    const root = dagPb.decode(await block(bs, file.cid))
    expect(root.Links).toHaveLength(2)
    const [first, second] = await Promise.all(root.Links.map(async l => dagPb.decode(await block(bs, l.Hash))))
    expect(first?.Links).toHaveLength(174)
    expect(second?.Links).toHaveLength(2)
    expect(UnixFS.unmarshal(root.Data ?? new Uint8Array()).fileSize()).toBe(BigInt(bytes.length))
  })

  it('matches the importer fed the same bytes in one piece', async () => {
    const bytes = deterministicBytes(CHUNK_SIZE * 2 + 77, 4)
    let expected: CID | undefined
    for await (const entry of importer([{ content: bytes }], new MemoryBlockstore(), kuboImporterOptions())) expected = entry.cid
    const file = await addFile(toChunks(bytes, 12_345), new MemoryBlockstore())
    expect(file.cid.equals(expected)).toBe(true)
  })
})

describe('addDirectory', () => {
  it('gives the same root as importing the files with their bytes (as ipfs add -r does)', async () => {
    const contents: Record<string, Uint8Array> = {
      'oci-layout': new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'),
      'index.json': new TextEncoder().encode('{}'),
      [`blobs/sha256/${'b'.repeat(64)}`]: deterministicBytes(CHUNK_SIZE * 2 + 3, 5),
      [`blobs/sha256/${'a'.repeat(64)}`]: deterministicBytes(100, 6),
      [`blobs/sha256/${'c'.repeat(64)}`]: new Uint8Array(0)
    }
    let expected: CID | undefined
    const candidates = Object.entries(contents).map(([path, content]) => ({ path, content }))
    for await (const entry of importer(candidates, new MemoryBlockstore(), { ...kuboImporterOptions(), wrapWithDirectory: true })) expected = entry.cid
    const bs = new MemoryBlockstore()
    const files = new Map<string, StoredFile>()
    for (const [path, content] of Object.entries(contents)) files.set(path, await addFile(content, bs))
    const dir = await addDirectory(files, bs)
    expect(dir.cid.toString()).toBe(expected?.toString())
    const root = dagPb.decode(await block(bs, dir.cid))
    expect(root.Links.map(l => l.Name)).toEqual(['blobs', 'index.json', 'oci-layout'])
    expect(UnixFS.unmarshal(root.Data ?? new Uint8Array()).type).toBe('directory')
    const total = [...files.values()].reduce((sum, f) => sum + f.dagSize, 0)
    expect(root.Links.reduce((sum, l) => sum + (l.Tsize ?? 0), 0)).toBeGreaterThan(total) // sub-directory blocks count too
  })

  it('stays a flat directory for realistic images and shards past the threshold', async () => {
    const bs = new MemoryBlockstore()
    const one = await addFile(new Uint8Array([1]), bs)
    const names = (n: number): Map<string, StoredFile> => new Map(Array.from({ length: n }, (_, i) => [createHash('sha256').update(String(i)).digest('hex'), one]))
    const typeOf = async (entries: Map<string, StoredFile>): Promise<string> => {
      const dir = await addDirectory(entries, bs)
      return UnixFS.unmarshal(dagPb.decode(await block(bs, dir.cid)).Data ?? new Uint8Array()).type
    }
    // each link is estimated at 64 name bytes + 36 CID bytes = 100: 2621 fit in 262144
    expect(await typeOf(names(2621))).toBe('directory')
    expect(await typeOf(names(2622))).toBe('hamt-sharded-directory')
  })
})
