import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { UnixFS } from 'ipfs-unixfs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_SIZE, HAMT_THRESHOLD_BYTES, MAX_CHILDREN_PER_NODE } from '../src/constants.js'
import { addDirectory, addFile, type StoredFile } from '../src/layout/unixfs.js'
import { KuboDaemon } from '../../../test/helpers/kubo.js'
import { collect, deterministicBytes } from './helpers/bytes.js'

/**
 * Our UnixFS DAGs against the real Kubo's (`ipfs add --cid-version=1 --only-hash`, offline, in
 * its own repo) at every boundary of its layout: chunk size, the 174-link file node, a two-level
 * DAG, and the directory size past which Kubo shards a directory (HAMT).
 */
describe('UnixFS CIDs are Kubo\'s', () => {
  let kubo: KuboDaemon
  let dir: string

  beforeAll(async () => {
    kubo = await KuboDaemon.init()
    dir = await mkdtemp(join(tmpdir(), 'dm-kubo-cid-'))
  })
  afterAll(async () => { await kubo?.destroy() })

  const kuboAdd = async (path: string, recursive = false): Promise<string> =>
    (await kubo.ipfs(['add', '--cid-version=1', '--only-hash', '-Q', ...(recursive ? ['-r'] : []), path])).trim()

  const sizes = {
    empty: 0,
    'chunk - 1': CHUNK_SIZE - 1,
    chunk: CHUNK_SIZE,
    'chunk + 1': CHUNK_SIZE + 1,
    '174 chunks (one full file node)': MAX_CHILDREN_PER_NODE * CHUNK_SIZE,
    '174 chunks + 1 (two levels)': MAX_CHILDREN_PER_NODE * CHUNK_SIZE + 1,
    '50 MiB + 1234 (two levels)': 50 * 1024 * 1024 + 1234
  }
  for (const [name, size] of Object.entries(sizes)) {
    it(`a file of ${name} bytes (${size})`, async () => {
      const bytes = deterministicBytes(size, size)
      const path = join(dir, `file-${size}`)
      await writeFile(path, bytes)
      const ours = await addFile(bytes, new MemoryBlockstore())
      expect(ours.cid.toString()).toBe(await kuboAdd(path))
    }, 120_000)
  }

  /** `count` files named by their sha256, as in an OCI layout's blobs/sha256 */
  async function blobsDirectory (count: number): Promise<{ path: string, ours: string }> {
    const path = join(dir, `blobs-${count}`)
    await mkdir(path)
    const files = new Map<string, StoredFile>()
    const blockstore = new MemoryBlockstore()
    for (let i = 0; i < count; i++) {
      const bytes = new TextEncoder().encode(`blob ${i}\n`)
      const name = createHash('sha256').update(bytes).digest('hex')
      await writeFile(join(path, name), bytes)
      files.set(name, await addFile(bytes, blockstore))
    }
    const root = await addDirectory(files, blockstore)
    roots.set(root.cid.toString(), await collect(blockstore.get(root.cid)))
    return { path, ours: root.cid.toString() }
  }
  const roots = new Map<string, Uint8Array>()
  const rootType = async (cid: string): Promise<string> => UnixFS.unmarshal(dagPb.decode(roots.get(cid) ?? new Uint8Array()).Data ?? new Uint8Array()).type

  // each entry is estimated at its name (64) plus its CID (36 bytes): 100 bytes
  const entriesAtThreshold = Math.floor(HAMT_THRESHOLD_BYTES / 100)

  it(`a directory just under the sharding threshold stays flat (${entriesAtThreshold} entries)`, async () => {
    const { path, ours } = await blobsDirectory(entriesAtThreshold)
    expect(ours).toBe(await kuboAdd(path, true))
    expect(await rootType(ours)).toBe('directory')
  }, 120_000)

  it(`a directory just over the threshold is a HAMT (${entriesAtThreshold + 1} entries)`, async () => {
    const { path, ours } = await blobsDirectory(entriesAtThreshold + 1)
    expect(ours).toBe(await kuboAdd(path, true))
    expect(await rootType(ours)).toBe('hamt-sharded-directory')
  }, 120_000)
})
