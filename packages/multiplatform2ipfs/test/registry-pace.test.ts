import { Agent, get } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { sha256Digest } from '../src/digest.js'
import { deterministicBytes } from './helpers/bytes.js'
import { pushBlob, type Blob } from './helpers/images.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import type { RegistryLogger } from '../src/registry/components.js'

/** The pace component: awaited before each chunk of a blob is sent (a node slows its engine's pull while its peers wait on it) */
describe('registry blob reads through a pace', () => {
  let running: RunningOciRegistry | undefined
  afterEach(async () => { await running?.stop(); running = undefined })

  it('is told of every byte of a blob it sends, and the client gets the blob whole', async () => {
    const paced: number[] = []
    running = await startOciRegistry({ pace: async bytes => { paced.push(bytes); await new Promise(resolve => setTimeout(resolve, 1)) } })
    const blob = await pushed(running.url, 3 * 256 * 1024 + 5)
    const { bytes } = blob
    const res = await fetch(`${running.url}/v2/dmtest/paced/blobs/${blob.digest}`)
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
    expect(paced.reduce((a, b) => a + b, 0)).toBe(bytes.length)
    expect(paced.length).toBeGreaterThanOrEqual(4)
    // a HEAD sends no body: nothing to pace
    const before = paced.length
    expect((await fetch(`${running.url}/v2/dmtest/paced/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200)
    expect(paced.length).toBe(before)
  })

  it('ends the response with its last byte: an engine closing its connection then is no failure', async () => {
    const log = recordingLog()
    // 100 ms per chunk, as a pace slowing an engine would (abandoned when the client goes)
    running = await startOciRegistry({ log, pace: async (_bytes, signal) => { await sleep(100, undefined, { signal }) } })
    const blob = await pushed(running.url, 3 * 256 * 1024 + 5)
    const agent = new Agent({ keepAlive: true }) // dockerd keeps its connection, then closes it once the body is whole
    const body = await new Promise<Buffer>((resolve, reject) => {
      get(`${running?.url ?? ''}/v2/dmtest/paced/blobs/${blob.digest}`, { agent }, res => {
        const parts: Buffer[] = []
        res.on('data', (part: Buffer) => parts.push(part)).on('end', () => { resolve(Buffer.concat(parts)) }).on('error', reject)
      }).on('error', reject)
    })
    agent.destroy()
    expect(body.equals(Buffer.from(blob.bytes))).toBe(true)
    await sleep(300) // a pace still awaited after the last chunk would end now, with the client gone
    expect(log.entries.filter(e => e.level === 'error')).toEqual([])
    expect(log.entries.map(e => e.msg)).not.toContain('registry client disconnected')
  })

  it('logs a client gone in the middle of a blob as a disconnect, not as a failure of the registry', async () => {
    const log = recordingLog()
    running = await startOciRegistry({ log, pace: async (_bytes, signal) => { await sleep(100, undefined, { signal }) } })
    const blob = await pushed(running.url, 8 * 256 * 1024)
    await new Promise<void>((resolve, reject) => {
      const req = get(`${running?.url ?? ''}/v2/dmtest/paced/blobs/${blob.digest}`, { agent: false }, res => {
        res.once('data', () => { req.destroy(); resolve() })
      }).on('error', err => { if (!req.destroyed) reject(err) })
    })
    for (let i = 0; i < 50 && !log.entries.some(e => e.msg === 'registry client disconnected'); i++) await sleep(20)
    expect(log.entries.filter(e => e.level === 'error')).toEqual([])
    expect(log.entries.filter(e => e.msg === 'registry client disconnected')).toHaveLength(1)
  })
})

interface LogEntry { level: 'debug' | 'info' | 'warn' | 'error', msg: string | undefined }

function recordingLog (): RegistryLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const at = (level: LogEntry['level']) => (_obj: object, msg?: string): void => { entries.push({ level, msg }) }
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

async function pushed (url: string, size: number): Promise<Blob> {
  const bytes = deterministicBytes(size, 7)
  const blob: Blob = { digest: sha256Digest(bytes), size: bytes.length, mediaType: 'application/octet-stream', bytes }
  await pushBlob(url, 'dmtest/paced', blob)
  return blob
}
