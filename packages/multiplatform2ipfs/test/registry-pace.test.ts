import { afterEach, describe, expect, it } from 'vitest'
import { sha256Digest } from '../src/digest.js'
import { deterministicBytes } from './helpers/bytes.js'
import { pushBlob, type Blob } from './helpers/images.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'

/** The pace component: awaited after each chunk of a blob sent (a node slows its engine's pull while its peers wait on it) */
describe('registry blob reads through a pace', () => {
  let running: RunningOciRegistry | undefined
  afterEach(async () => { await running?.stop(); running = undefined })

  it('is told of every byte of a blob it sends, and the client gets the blob whole', async () => {
    const paced: number[] = []
    running = await startOciRegistry({ pace: async bytes => { paced.push(bytes); await new Promise(resolve => setTimeout(resolve, 1)) } })
    const bytes = deterministicBytes(3 * 256 * 1024 + 5, 7)
    const blob: Blob = { digest: sha256Digest(bytes), size: bytes.length, mediaType: 'application/octet-stream', bytes }
    await pushBlob(running.url, 'dmtest/paced', blob)
    const res = await fetch(`${running.url}/v2/dmtest/paced/blobs/${blob.digest}`)
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
    expect(paced.reduce((a, b) => a + b, 0)).toBe(bytes.length)
    expect(paced.length).toBeGreaterThanOrEqual(4)
    // a HEAD sends no body: nothing to pace
    const before = paced.length
    expect((await fetch(`${running.url}/v2/dmtest/paced/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200)
    expect(paced.length).toBe(before)
  })
})
