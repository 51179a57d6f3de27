import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { http1Get } from '../src/upstream/http1.js'
import { readCapped } from '../src/upstream/http.js'
import { PieceFiller } from '../src/pieces.js'

const servers: Array<HttpServer | NetServer> = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
})

async function listen<S extends HttpServer | NetServer> (server: S): Promise<URL> {
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/x/blobs/sha256:00?n=1`)
}

/** A server answering every connection with these raw bytes (then `end`, unless told not to) */
async function rawServer (answer: (socket: Socket) => void): Promise<URL> {
  return await listen(createNetServer(socket => { socket.once('data', () => { answer(socket) }); socket.on('error', () => {}) }))
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const piece of source) out.push(piece)
  return out
}

const signal = (): AbortSignal => new AbortController().signal

describe('http1Get', () => {
  it('sends the request line and headers, and reads status and headers (any case, repeated ones joined)', async () => {
    let seen: { url?: string, headers: Record<string, string | string[] | undefined> } = { headers: {} }
    const url = await listen(createHttpServer((req, res) => {
      seen = { url: req.url, headers: req.headers }
      res.setHeader('Docker-Content-Digest', 'sha256:ab')
      res.setHeader('Link', ['<a>', '<b>'])
      res.writeHead(404).end('{"errors":[]}')
    }))
    const response = await http1Get(url, { accept: 'application/json', authorization: 'Bearer t' }, signal())
    expect(seen.url).toBe('/v2/x/blobs/sha256:00?n=1')
    expect(seen.headers).toMatchObject({ accept: 'application/json', authorization: 'Bearer t', host: url.host, connection: 'close' })
    expect(response.status).toBe(404)
    expect(response.ok).toBe(false)
    expect(response.headers.get('DOCKER-content-digest')).toBe('sha256:ab')
    expect(response.headers.get('link')).toBe('<a>, <b>')
    expect(response.headers.get('x-missing')).toBeNull()
    expect(Buffer.from(await readCapped(response, 1024, () => new Error('too large'))).toString()).toBe('{"errors":[]}')
  })

  it('regroups a Content-Length body into pieces of the size asked, into the buffers given', async () => {
    const body = randomBytes(1024 * 1024 + 123)
    const url = await listen(createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': body.byteLength })
      // many small writes: pieces must not follow the network's chunking
      for (let at = 0; at < body.byteLength; at += 10_000) res.write(body.subarray(at, at + 10_000))
      res.end()
    }))
    const response = await http1Get(url, {}, signal())
    const given: Uint8Array[] = []
    const pieces = await collect(response.pieces(256 * 1024, size => { const b = new Uint8Array(size); given.push(b); return b }))
    expect(pieces.map(p => p.byteLength)).toEqual([262144, 262144, 262144, 262144, 123])
    expect(pieces.map(p => p.buffer)).toEqual(given.map(b => b.buffer))
    expect(Buffer.concat(pieces).equals(body)).toBe(true)
  })

  it('reads a Content-Length body in place: past the first reads its bytes land in the pieces, never copied', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 5)
    const url = await rawServer(socket => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.byteLength}\r\n\r\n`)
      // in pieces with pauses, so reads end mid-piece; then bytes past the body, which must be dropped
      let at = 0
      const next = (): void => {
        if (at >= body.byteLength) { socket.end('EXTRA BYTES'); return }
        socket.write(body.subarray(at, at + 100_001))
        at += 100_001
        setTimeout(next, 1)
      }
      next()
    })
    const copied = vi.spyOn(PieceFiller.prototype, 'add')
    try {
      const pieces = await collect((await http1Get(url, {}, signal())).pieces(256 * 1024, size => Buffer.from(new SharedArrayBuffer(size))))
      expect(pieces.slice(0, -1).every(p => p.byteLength === 256 * 1024)).toBe(true)
      expect(Buffer.concat(pieces).equals(body)).toBe(true)
      const copiedBytes = copied.mock.calls.reduce((sum, [bytes]) => sum + bytes.byteLength, 0)
      expect(copiedBytes).toBeLessThan(256 * 1024)
    } finally {
      copied.mockRestore()
    }
  })

  it('fails a body read in place that the connection cuts short', async () => {
    const url = await rawServer(socket => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n')
      setTimeout(() => { socket.write(Buffer.alloc(300_000, 1)) }, 20)
      setTimeout(() => { socket.end(Buffer.alloc(300_000, 2)) }, 60)
    })
    const response = await http1Get(url, {}, signal())
    await expect(collect(response.pieces(256 * 1024))).rejects.toThrow(/closed before the response ended/)
  })

  it('reads chunked and close-delimited bodies, as pieces and as a stream', async () => {
    const body = randomBytes(300_000)
    const chunked = await listen(createHttpServer((_req, res) => {
      res.writeHead(200) // no length: node sends Transfer-Encoding: chunked
      res.write(body.subarray(0, 1))
      res.write(body.subarray(1, 200_000))
      res.end(body.subarray(200_000))
    }))
    const delimited = await rawServer(socket => { socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n'), body])) })
    for (const url of [chunked, delimited]) {
      expect(Buffer.concat(await collect((await http1Get(url, {}, signal())).pieces(65536))).equals(body)).toBe(true)
      const stream = (await http1Get(url, {}, signal())).body as AsyncIterable<Uint8Array>
      expect(Buffer.concat(await collect(stream)).equals(body)).toBe(true)
    }
  })

  it('fails a body cut short of its Content-Length', async () => {
    const url = await rawServer(socket => { socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(500)) })
    const response = await http1Get(url, {}, signal())
    await expect(collect(response.pieces(256))).rejects.toThrow(/closed before the response ended/)
  })

  it('names the upstream in a connection error that does not (a reset: a proxy whose registry is down)', async () => {
    const reset = await rawServer(socket => { socket.resetAndDestroy() })
    await expect(http1Get(reset, {}, signal())).rejects.toThrow(`${reset.host}: read ECONNRESET`)
    // a port nobody listens on any more
    const refused = await listen(createNetServer())
    const closed = servers.pop() as NetServer
    await new Promise(resolve => closed.close(resolve))
    // Node's own message already names it: not twice
    await expect(http1Get(refused, {}, signal())).rejects.toThrow(new RegExp(`^connect ECONNREFUSED ${refused.host}$`))
  })

  it('rejects malformed responses with a clear error', async () => {
    for (const answer of ['SMTP ready\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n']) {
      const url = await rawServer(socket => { socket.end(answer) })
      await expect(http1Get(url, {}, signal())).rejects.toThrow(/malformed HTTP response|Content-Length|informational/)
    }
  })

  it('refuses header values that would add lines of their own', async () => {
    const url = await rawServer(socket => { socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') })
    await expect(http1Get(url, { authorization: 'Bearer t\r\nX-Injected: 1' }, signal())).rejects.toThrow(/invalid value for header authorization/)
  })

  it('stops on abort, before and during the body', async () => {
    const url = await rawServer(socket => { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n' + 'x'.repeat(1000)) })
    const early = new AbortController()
    early.abort(new Error('gave up'))
    await expect(http1Get(url, {}, early.signal)).rejects.toThrow('gave up')
    const late = new AbortController()
    const pieces = (await http1Get(url, {}, late.signal)).pieces(256)
    expect((await pieces.next()).value?.byteLength).toBe(256)
    late.abort(new Error('stopped by the caller'))
    await expect(collect(pieces)).rejects.toThrow('stopped by the caller')
  })

  it('stops reading while the consumer does not keep up (the sender is held back), then delivers every byte', async () => {
    const total = 64 * 1024 * 1024
    let sent = 0
    const url = await rawServer(socket => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`)
      const chunk = Buffer.alloc(64 * 1024, 7)
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.byteLength
          if (!socket.write(chunk)) { socket.once('drain', pump); return }
        }
        socket.end()
      }
      pump()
    })
    const pieces = (await http1Get(url, {}, signal())).pieces(256 * 1024)
    expect((await pieces.next()).done).toBe(false)
    await new Promise(resolve => setTimeout(resolve, 300))
    // what is in flight is bounded by the kernel's socket buffers, far below the body
    expect(sent).toBeLessThan(total / 2)
    let received = 256 * 1024
    for await (const piece of pieces) received += piece.byteLength
    expect(received).toBe(total)
  })
})

describe('http1Get over https', () => {
  it('checks the certificate, and reads a body as it does over plain HTTP', async () => {
    const { key, cert } = selfSignedCertificate()
    const body = randomBytes(700_000)
    const server = createHttpsServer({ key, cert }, (_req, res) => { res.writeHead(200, { 'content-length': body.byteLength }).end(body) })
    const url = await listen(server)
    url.protocol = 'https:'
    url.hostname = 'localhost'
    const trusted = await http1Get(url, {}, signal(), { ca: cert })
    expect(Buffer.concat(await collect(trusted.pieces(256 * 1024))).equals(body)).toBe(true)
    // Node's own CAs do not know this certificate
    await expect(http1Get(url, {}, signal())).rejects.toThrow(/self[- ]signed certificate/)
  })
})

/** A throwaway certificate for localhost, made by Debian's openssl (installed by .ci/run) */
function selfSignedCertificate (): { key: string, cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dm-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
