import { createHash } from 'node:crypto'
import { MemoryStore, memoryContent } from '@distromash/p2pcomm'
import { addFile, writeLayout, type Digest } from '@distromash/multiplatform2ipfs'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MemoryDatastore } from 'datastore-core/memory'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryDockerEngine } from '../src/reconciler/memory-docker.js'
import { PinSet } from '../src/reconciler/pin-set.js'
import { Reconciler, type ReplicationStage } from '../src/reconciler/reconciler.js'
import { Records } from '../src/records/index.js'

const ME = '12D3KooWme'
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const digest = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest

/** A one-platform image layout (manifest, config, one layer) in the given blockstore */
async function image (blockstore: MemoryBlockstore): Promise<string> {
  const blobs = new Map<Digest, Awaited<ReturnType<typeof addFile>>>()
  const put = async (bytes: Uint8Array): Promise<{ digest: Digest, size: number }> => {
    blobs.set(digest(bytes), await addFile(bytes, blockstore))
    return { digest: digest(bytes), size: bytes.length }
  }
  const layer = await put(new Uint8Array(100 * 1024).fill(7))
  const config = await put(json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }))
  const manifest = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] }))
  const root = await writeLayout({ top: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }, tag: '1', blobs }, blockstore)
  return root.cid.toString()
}

/** One image assigned to this node; the reconciler runs until its status settles, telling `told` of each stage */
async function replicate (options: { remoteFails?: boolean, pullFails?: boolean }): Promise<{ told: Array<[ReplicationStage, string]>, state?: string, queue: { waiting: number, running: number } }> {
  const source = new MemoryBlockstore()
  const cid = await image(source)
  const content = memoryContent({
    remote: async block => {
      if (options.remoteFails === true) throw new Error('no peer has it')
      const parts: Uint8Array[] = []
      for await (const part of source.get(block)) parts.push(part)
      return Buffer.concat(parts)
    }
  })
  const records = new Records(await MemoryStore.create(), ME)
  const docker = new MemoryDockerEngine('linux/amd64', async ref => { if (options.pullFails === true) throw new Error('pull refused'); return `sha256:${ref}` })
  const told: Array<[ReplicationStage, string]> = []
  const reconciler = new Reconciler({
    peerId: ME, records, resolve: async () => ({ cid }), content, pins: await PinSet.open(content, new MemoryDatastore()), docker,
    registry: '127.0.0.1:5005', log: pino({ level: 'silent' }), intervalMs: 60_000,
    observer: { stage: (stage, outcome, seconds) => { expect(seconds).toBeGreaterThanOrEqual(0); told.push([stage, outcome]) } }
  })
  await records.putStrategy({ key: 's1', type: 'percentage', nametag: 'app:1', percentage: 100, execute: true, createdAt: '', updatedAt: '', createdBy: 'x' })
  await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
  await reconciler.start()
  let state: string | undefined
  for (let i = 0; i < 200; i++) {
    state = (await records.status(ME, 'app:1'))?.state
    if ((state === 'loaded' || state === 'failed') && reconciler.queue().running === 0) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  reconciler.schedule() // one more pass counts what is left
  await new Promise(resolve => setTimeout(resolve, 300))
  const queue = reconciler.queue()
  await reconciler.stop()
  return { told, state, queue }
}

describe('the reconciler tells its observer each replication stage', () => {
  it('fetch, pin and load, each once, and an empty queue once loaded', async () => {
    const { told, state, queue } = await replicate({})
    expect(state).toBe('loaded')
    expect(told.sort()).toEqual([['fetch', 'ok'], ['load', 'ok'], ['pin', 'ok']])
    expect(queue).toEqual({ waiting: 0, running: 0 })
  })

  it('a load that fails is told as failed, and the image stays in the queue', async () => {
    const { told, state, queue } = await replicate({ pullFails: true })
    expect(state).toBe('failed')
    expect(told).toContainEqual(['load', 'failed'])
    expect(told).toContainEqual(['fetch', 'ok'])
    expect(queue.waiting).toBe(1)
  })

  it('a fetch that fails is told as failed; the pull it cancels is not told at all', async () => {
    const { told, state } = await replicate({ remoteFails: true })
    expect(state).toBe('failed')
    expect(told).toEqual([['fetch', 'failed']])
  })
})
