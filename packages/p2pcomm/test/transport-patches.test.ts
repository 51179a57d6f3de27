import { once } from 'node:events'
import { generateKey, preSharedKey } from '@libp2p/pnet'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import type { MessageStream, MultiaddrConnection, Stream, StreamMuxer } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'

// The two patches in patches/ (applied by patch-package at install), tested on the packages as
// installed: with an unpatched package both fail. Issue 15: per-byte CPU of the block exchange.

const MiB = 1024 * 1024

/** Every frame type the connection's owner sent, from the bytes it wrote (12-byte yamux headers) */
function yamuxFrameTypes (sent: Uint8Array[]): number[] {
  const bytes = new Uint8ArrayList(...sent)
  const types: number[] = []
  for (let at = 0; at + 12 <= bytes.byteLength;) {
    const type = bytes.get(at + 1)
    types.push(type)
    at += 12 + (type === 0 ? bytes.getUint32(at + 8) : 0)
  }
  return types
}

function recordSent (conn: MultiaddrConnection): Uint8Array[] {
  const sent: Uint8Array[] = []
  const target = conn as unknown as { sendData: (data: Uint8ArrayList) => unknown }
  const sendData = target.sendData.bind(target)
  target.sendData = data => { sent.push(data.slice()); return sendData(data) }
  return sent
}

async function sendAll (stream: Stream, total: number, chunk: number): Promise<void> {
  for (let done = 0; done < total; done += chunk) {
    if (!stream.send(new Uint8Array(chunk).fill(done / chunk))) await once(stream, 'drain')
  }
}

async function receiveAll (stream: Stream, total: number): Promise<number> {
  let received = 0
  await new Promise<void>(resolve => {
    stream.addEventListener('message', evt => {
      received += evt.data.byteLength
      if (received >= total) resolve()
    })
  })
  return received
}

describe('yamux (patched): window updates', () => {
  it('grants window once half of it is owed, not for every data frame, and the transfer completes', async () => {
    // no keep-alive pings: no RTT, so the window stays at 256 KiB and 64 KiB frames owe half of it
    // every second frame
    const [outbound, inbound] = multiaddrConnectionPair()
    const sentByReceiver = recordSent(inbound)
    const sentBySender = recordSent(outbound)
    const factory = yamux({ enableKeepAlive: false })()
    const sender: StreamMuxer = factory.createStreamMuxer(outbound)
    const receiver: StreamMuxer = factory.createStreamMuxer(inbound)
    const incoming = once(receiver, 'stream') as Promise<[CustomEvent<Stream>]>
    const stream = await sender.createStream()
    const sending = sendAll(stream, 16 * MiB, 64 * 1024)
    const [{ detail: remote }] = await incoming
    expect(await receiveAll(remote, 16 * MiB)).toBe(16 * MiB)
    await sending

    const dataFrames = yamuxFrameTypes(sentBySender).filter(t => t === 0).length
    const windowUpdates = yamuxFrameTypes(sentByReceiver).filter(t => t === 1).length
    expect(dataFrames).toBeGreaterThanOrEqual(256)
    // unpatched: one update per data frame
    expect(windowUpdates).toBeLessThanOrEqual(dataFrames / 2 + 1)
    sender.abort(new Error('done'))
    receiver.abort(new Error('done'))
  })
})

describe('pnet (patched): the keystream is applied in place where the buffer is the connection\'s own', () => {
  async function protectedPair (): Promise<{ a: MessageStream, b: MessageStream, rawAtB: Uint8Array[] }> {
    const psk = new Uint8Array(95)
    generateKey(psk)
    const protector = preSharedKey({ psk })()
    const [outbound, inbound] = multiaddrConnectionPair()
    const [a, b] = await Promise.all([protector.protect(outbound), protector.protect(inbound)])
    const rawAtB: Uint8Array[] = []
    inbound.addEventListener('message', evt => { rawAtB.push(...(evt.data instanceof Uint8Array ? [evt.data] : evt.data)) })
    return { a, b, rawAtB }
  }

  it('decrypts what the transport delivered in that same buffer, and the bytes are right', async () => {
    const { a, b, rawAtB } = await protectedPair()
    const received: Uint8Array[] = []
    b.addEventListener('message', evt => { received.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()) })
    const parts = [Uint8Array.from({ length: 70_000 }, (_, i) => i & 0xff), Uint8Array.from({ length: 5_000 }, (_, i) => (i * 3) & 0xff)]
    a.send(new Uint8ArrayList(...parts)) // two buffers: joined into a fresh one, encrypted in place
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(Buffer.concat(received)).toEqual(Buffer.concat(parts))
    expect(received.length).toBeGreaterThan(0)
    // unpatched: a fresh buffer per read
    expect(received.every((chunk, i) => chunk === rawAtB[i])).toBe(true)
  })

  it('leaves a single buffer the caller sent as it was', async () => {
    const { a, b } = await protectedPair()
    const received: Uint8Array[] = []
    b.addEventListener('message', evt => { received.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()) })
    const plain = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 5) & 0xff)
    const copy = plain.slice()
    a.send(plain)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(plain).toEqual(copy)
    expect(Buffer.concat(received)).toEqual(Buffer.from(copy))
  })
})
