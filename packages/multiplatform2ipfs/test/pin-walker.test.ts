import * as dagPb from '@ipld/dag-pb'
import { depthFirstWalker } from '@helia/utils'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'
import { describe, expect, it } from 'vitest'
import { CHUNK_SIZE, MAX_CHILDREN_PER_NODE } from '../src/constants.js'
import { leafSkippingWalker, type PinWalkOptions } from '../src/layout/pin-walker.js'
import { addFile } from '../src/layout/unixfs.js'
import { deterministicBytes } from './helpers/bytes.js'

const getCodec = (code: number): { code: number, decode: (bytes: Uint8Array) => unknown } => {
  if (code === dagPb.code) return dagPb
  if (code === raw.code) return raw
  throw new Error(`no codec ${code}`)
}

/** A blockstore that records what was written, counts reads, and can pretend blocks are absent (fetched on get, as Helia's networked store does). */
class CountingBlockstore extends MemoryBlockstore {
  readonly written: CID[] = []
  readonly gets: CID[] = []
  readonly absent = new Set<string>()

  override put (key: CID, val: Uint8Array): CID {
    this.written.push(key)
    return super.put(key, val) as CID
  }

  override has (key: CID): boolean {
    return !this.absent.has(key.toString()) && (super.has(key) as boolean)
  }

  override * get (key: CID): Generator<Uint8Array> {
    this.gets.push(key)
    this.absent.delete(key.toString())
    yield * (super.get(key) as Generator<Uint8Array>)
  }
}

async function walk (bs: CountingBlockstore, root: CID, options: PinWalkOptions = {}): Promise<Array<{ cid: string, depth: number }>> {
  const nodes: Array<{ cid: string, depth: number }> = []
  for await (const node of leafSkippingWalker()({ blockstore: bs, getCodec }).walk(root, options)) nodes.push({ cid: node.block.cid.toString(), depth: node.depth })
  return nodes
}

describe('leafSkippingWalker', () => {
  // two levels: more leaves than one node holds
  const bytes = deterministicBytes((MAX_CHILDREN_PER_NODE + 10) * CHUNK_SIZE, 7)

  it('yields every block of a multi-level file once, reading only the dag-pb nodes', async () => {
    const bs = new CountingBlockstore()
    const file = await addFile(bytes, bs)
    const nodes = await walk(bs, file.cid)
    expect(nodes.map(n => n.cid).sort()).toEqual([...new Set(bs.written.map(String))].sort())
    expect(nodes).toHaveLength(new Set(bs.written.map(String)).size)
    expect(bs.gets.every(cid => cid.code === dagPb.code)).toBe(true)
    expect(bs.gets).toHaveLength(3) // the root and its two children
    expect(Math.max(...nodes.map(n => n.depth))).toBe(2)
  })

  it('fetches a raw leaf that is not here, as the default walker would', async () => {
    const bs = new CountingBlockstore()
    const file = await addFile(bytes, bs)
    const leaf = bs.written.find(cid => cid.code === raw.code) as CID
    bs.absent.add(leaf.toString())
    await walk(bs, file.cid)
    expect(bs.gets.map(String)).toContain(leaf.toString())
  })

  it('fails when a block can be neither found nor fetched', async () => {
    const bs = new CountingBlockstore()
    const file = await addFile(bytes, bs)
    const leaf = bs.written.find(cid => cid.code === raw.code) as CID
    await bs.delete(leaf)
    await expect(walk(bs, file.cid)).rejects.toMatchObject({ name: 'NotFoundError' })
  })

  it('yields what Helia\'s default walker yields (blocks, depths, paths), a block reached twice included', async () => {
    const bs = new CountingBlockstore()
    const node = async (links: CID[]): Promise<CID> => {
      const bytes = dagPb.encode(dagPb.prepare({ Links: links.map(Hash => ({ Hash, Tsize: 1 })) }))
      const cid = CID.createV1(dagPb.code, await sha256.digest(bytes))
      await bs.put(cid, bytes)
      return cid
    }
    const file = await addFile(bytes, bs)
    const shared = (await addFile(deterministicBytes(100, 3), bs)).cid
    const root = await node([await node([shared, file.cid]), shared, file.cid])
    const label = (n: { block: { cid: CID }, depth: number, path: CID[] }): string => `${n.depth} ${n.path.map(String).join('/')}`
    const ours: string[] = []
    for await (const n of leafSkippingWalker({ concurrency: 4 })({ blockstore: bs, getCodec }).walk(root)) ours.push(label(n))
    const helias: string[] = []
    // Helia's CodecLoader is generic over the codec: ours returns the two concrete ones
    const codecs = (code: number): unknown => code === dagPb.code ? dagPb : raw
    for await (const n of depthFirstWalker()({ blockstore: bs, getCodec: codecs as never }).walk(root)) helias.push(label(n))
    expect(ours.sort()).toEqual(helias.sort())
    expect(ours.length).toBe(2 * (1 + 2 + MAX_CHILDREN_PER_NODE + 10) + 2 + 2) // the file and shared twice, the two nodes
  })

  it('stops at the requested depth', async () => {
    const bs = new CountingBlockstore()
    const file = await addFile(bytes, bs)
    expect(await walk(bs, file.cid, { depth: 0 })).toEqual([{ cid: file.cid.toString(), depth: 0 }])
    expect((await walk(bs, file.cid, { depth: 1 })).map(n => n.depth)).toEqual([0, 1, 1])
  })

  it('yields a single raw block (a small blob) without reading it', async () => {
    const bs = new CountingBlockstore()
    const file = await addFile(deterministicBytes(1000, 1), bs)
    expect(file.cid.code).toBe(raw.code)
    expect(await walk(bs, file.cid)).toEqual([{ cid: file.cid.toString(), depth: 0 }])
    expect(bs.gets).toHaveLength(0)
  })
})
