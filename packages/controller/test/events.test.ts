import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type Socket } from 'node:net'
import { MemoryStore } from '@distromash/p2pcomm'
import { MAX_UNREAD_EVENT_BYTES } from '../src/api/events.js'
import { startTwinApi, type TwinApi } from './helpers/twin-api.js'

/**
 * Issue 16's event-stream attack by clients that never read: each one's unread events are capped
 * at MAX_UNREAD_EVENT_BYTES, then the client is dropped, so ten of them cannot hold memory without
 * bound (they held +210 MB before). The API over the in-memory store, so events come fast enough to
 * fill the kernel's socket buffers first.
 */
describe('event streams of clients that never read', () => {
  let api: TwinApi
  let store: MemoryStore
  let port = 0

  beforeAll(async () => {
    store = await MemoryStore.create()
    api = await startTwinApi(store)
    port = api.port
  })

  afterAll(async () => { await api.close() })

  it('drops each client once it leaves the unread budget behind; a reading client keeps its stream', async () => {
    const stalled: Socket[] = []
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, '127.0.0.1')
      await new Promise(resolve => socket.once('connect', resolve))
      socket.write('GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      socket.pause() // never reads: the kernel buffers fill, then the server's
      stalled.push(socket)
    }
    // a paused client never sees the server close it (it would have to read up to the FIN): count on the server
    const open = async (): Promise<number> => new Promise((resolve, reject) => api.server.getConnections((err, n) => { err != null ? reject(err) : resolve(n) }))
    let received = 0
    const reader = connect(port, '127.0.0.1')
    reader.on('data', d => { received += d.length })
    reader.write('GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    const before = process.memoryUsage().rss
    // ~100-byte events until the stalled clients are dropped (or far more than any buffer holds)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(await open()).toBe(11)
    let i = 0
    for (; i < 200_000; i++) {
      await store.put(`k/${i % 1000}`, i)
      if (i % 1000 === 0) {
        await new Promise(resolve => setImmediate(resolve))
        if (await open() === 1) break
      }
    }
    const grown = (process.memoryUsage().rss - before) / 1024 / 1024
    const left = await open()
    console.log(`after ${i} events: ${11 - left}/10 stalled clients dropped; RSS grew ${grown.toFixed(0)} MB; the reading client got ${(received / 1024 / 1024).toFixed(1)} MiB`)
    expect(left).toBe(1)
    // dropped once the socket buffers and MAX_UNREAD_EVENT_BYTES were full, not after everything was sent
    expect(i * 100).toBeLessThan(16 * 1024 * 1024 + MAX_UNREAD_EVENT_BYTES)
    for (const s of stalled) s.destroy()
    expect(reader.destroyed).toBe(false)
    expect(received).toBeGreaterThan(1024 * 1024)
    reader.destroy()
  }, 120_000)
})
