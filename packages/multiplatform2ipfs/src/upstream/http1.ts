/*
 * HTTP/1.1 GETs on a connection of their own, every socket read landing in one reused buffer:
 * any plain-HTTP request, and blob downloads over https.
 *
 * Why not undici (kept for small https exchanges: its pooled connections save TLS handshakes):
 * receiving a body costs most of an import's CPU, and most of that is not in the parsing.
 * Measured on loopback, 288 MiB in a fresh process: undici.request 1.12 CPU-s, node:http 0.96,
 * a socket reading into a fixed buffer 0.19. Every other way gives
 * each read a fresh 64 KiB buffer (page faults on first touch, then garbage collection of the
 * external memory) and passes it through stream layers; undici also compiles its wasm parser in
 * each new process. Here the socket's `onread` buffer is reused, and a body's consumer copies the
 * bytes out before the next read: anything into a Readable (body), a blob's headers and first
 * bytes into its block-sized pieces (pieces()). The rest of a blob with a Content-Length is read
 * in place: each read lands in the unfilled part of the piece being filled, so its bytes are
 * never copied in user space and a read takes up to a piece's rest rather than 64 KiB
 * (measured on loopback, 288 MiB: the copy into pieces was 0.09 s of the import's main thread).
 *
 * HTTP/1.1 is parsed by http-parser-js (status line, headers, Content-Length, chunked and
 * close-delimited bodies); one request per connection (`Connection: close`), as blob downloads
 * are few and large.
 */
import { connect, isIP, type Socket } from 'node:net'
import { connect as connectTls, type ConnectionOptions } from 'node:tls'
import { Readable } from 'node:stream'
import { HTTPParser } from 'http-parser-js'
import { RegistryResponseError } from '../errors.js'
import { PieceFiller } from '../pieces.js'
import type { UpstreamResponse } from './http.js'

/** Size of a connection's read buffer (as Node's own per-read buffers) */
const READ_BUFFER_BYTES = 64 * 1024
/** Full pieces waiting for the consumer before the socket is paused */
const MAX_READY_PIECES = 2
const INVALID_HEADER_VALUE = /[\r\n\0]/

type Sink = (bytes: Uint8Array) => void

/** A body read in place into pieces (see nextBuffer) */
interface InPlace {
  filler: PieceFiller
  ready: Uint8Array[]
}

class Exchange {
  readonly socket: Socket
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE)
  private readonly headers = new Map<string, string>()
  private status = 0
  private readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)
  /** The body's length when the response gives it (Content-Length, not chunked) */
  private bodyLength: number | undefined
  private bodyBytes = 0
  private inPlace: InPlace | undefined
  private readonly answered: Promise<void>
  private answer!: (err?: Error) => void
  /** Where body bytes go; until a consumer attaches they are copied aside and reading pauses */
  private sink: Sink
  private readonly early: Uint8Array[] = []
  private complete = false
  private failure: Error | undefined
  private paused = false
  private wake: (() => void) | undefined

  constructor (url: URL, headers: Record<string, string>, tls: TlsOptions) {
    const head = requestHead(url, headers) // may throw: before any connection is made
    this.answered = new Promise((resolve, reject) => { this.answer = err => { err === undefined ? resolve() : reject(err) } })
    this.answered.catch(() => {}) // awaited by response(); a failure before that must not go unhandled
    this.sink = bytes => { this.early.push(Uint8Array.prototype.slice.call(bytes)); this.paused = true }
    this.parser[HTTPParser.kOnHeadersComplete] = info => { this.onHeaders(info.statusCode, info.headers) }
    this.parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
      this.bodyBytes += length
      this.sink(chunk.subarray(offset, offset + length))
    }
    this.parser[HTTPParser.kOnMessageComplete] = () => { this.finish() }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const secure = url.protocol === 'https:'
    const target = {
      host,
      port: url.port !== '' ? Number(url.port) : secure ? 443 : 80,
      // Node asks for the buffer of each next read (nextBuffer). The callback's false pauses the
      // socket until the consumer has caught up (see resume)
      onread: { buffer: () => this.nextBuffer(), callback: (n: number, buf: Buffer) => this.onRead(buf, n) }
    }
    // certificates are checked against Node's CAs (and NODE_EXTRA_CA_CERTS), as undici does
    this.socket = secure ? connectTls({ ...target, ...tls, servername: isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'] }) : connect(target)
    this.socket.setNoDelay(true)
    this.socket.on('error', err => { this.fail(naming(err, url.host)) })
    const cut = (): Error => new RegistryResponseError(`connection to ${url.host} closed before the response ended`, 502)
    this.socket.on('end', () => { this.onEnd(cut) })
    this.socket.on('close', () => { this.fail(cut()) })
    this.socket.write(head)
  }

  async response (): Promise<UpstreamResponse> {
    await this.answered
    let consumed = false
    const claim = (): void => {
      if (consumed) throw new Error('response body already consumed')
      consumed = true
    }
    let body: Readable | undefined
    const exchange = this // the body getter has its own `this`
    return {
      status: this.status,
      ok: this.status >= 200 && this.status < 300,
      headers: { get: name => this.headers.get(name.toLowerCase()) ?? null },
      get body () {
        if (body === undefined) { claim(); body = exchange.readable() }
        return body
      },
      pieces: (size, allocate) => { claim(); return this.pieces(size, allocate) },
      cancel: async () => { this.socket.destroy() }
    }
  }

  /** The body regrouped into pieces of `size` bytes, copied once from the read buffer. */
  async * pieces (size: number, allocate?: (size: number) => Uint8Array): AsyncGenerator<Uint8Array> {
    const filler = new PieceFiller(size, allocate)
    const ready: Uint8Array[] = []
    this.attach(bytes => {
      filler.add(bytes, ready)
      if (ready.length >= MAX_READY_PIECES) this.paused = true
    })
    // from the next read on, bytes land in the pieces themselves
    if (this.bodyLength !== undefined) this.inPlace = { filler, ready }
    try {
      for (;;) {
        const next = ready.shift()
        if (next !== undefined) {
          yield next
          continue
        }
        if (this.failure !== undefined) throw this.failure
        if (this.complete) break
        await this.more()
      }
      const rest = filler.rest()
      if (rest !== undefined) yield rest
    } finally {
      this.socket.destroy()
    }
  }

  /** The body as a stream of copies (manifests, tokens, error bodies: small). */
  readable (): Readable {
    const stream = new Readable({
      read: () => { this.resume() },
      destroy: (err, callback) => { this.socket.destroy(); callback(err) }
    })
    this.attach(bytes => { if (!stream.push(Uint8Array.prototype.slice.call(bytes))) this.paused = true })
    const settle = (): void => {
      if (this.failure !== undefined) stream.destroy(this.failure)
      else if (this.complete) stream.push(null)
      else void this.more(false).then(settle)
    }
    settle()
    return stream
  }

  private attach (sink: Sink): void {
    this.sink = sink
    for (const bytes of this.early.splice(0)) sink(bytes)
  }

  /** Resolves on the next delivery, end or failure; `read` resumes a paused socket meanwhile. */
  private async more (read = true): Promise<void> {
    const next = new Promise<void>(resolve => { this.wake = resolve })
    if (read) this.resume()
    await next
  }

  private resume (): void {
    if (!this.paused) return
    this.paused = false
    this.socket.resume()
  }

  private notify (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /**
   * Where the next read lands: the piece being filled, up to the body's end, once a sized body is
   * read as pieces; the read buffer otherwise (headers, other bodies, and once the body is done).
   */
  private nextBuffer (): Uint8Array {
    const left = (this.bodyLength ?? 0) - this.bodyBytes
    if (this.inPlace === undefined || left <= 0 || this.complete || this.failure !== undefined) return this.readBuffer
    return this.inPlace.filler.space(left)
  }

  private onRead (buffer: Uint8Array, n: number): boolean {
    if (buffer !== this.readBuffer) return this.onReadInPlace(n)
    // bytes after a body read in place would reach the parser as more of it
    if (this.complete) return false
    try {
      const parsed = this.parser.execute(this.readBuffer, 0, n)
      if (parsed instanceof Error) throw new RegistryResponseError(`malformed HTTP response: ${parsed.message}`, 502)
    } catch (err) {
      this.fail(err as Error)
      return false
    }
    this.notify()
    return !this.paused
  }

  /** `n` body bytes landed in the piece nextBuffer gave; the HTTP parser never sees them. */
  private onReadInPlace (n: number): boolean {
    const { filler, ready } = this.inPlace as InPlace
    filler.filledIn(n, ready)
    this.bodyBytes += n
    if (ready.length >= MAX_READY_PIECES) this.paused = true
    if (this.bodyBytes === this.bodyLength) this.finish()
    this.notify()
    return !this.paused
  }

  private onHeaders (status: number, raw: string[]): void {
    if (status < 200) throw new Error(`unexpected informational response ${status}`)
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = (raw[i] ?? '').toLowerCase()
      const value = raw[i + 1] ?? ''
      this.headers.set(name, this.headers.has(name) ? `${this.headers.get(name) ?? ''}, ${value}` : value)
    }
    const length = this.headers.get('content-length')
    if (length !== undefined && !/^\d+$/.test(length)) throw new Error(`invalid Content-Length "${length}"`)
    // only a plain sized body may skip the parser (a chunked one has framing inside)
    if (length !== undefined && !this.headers.has('transfer-encoding') && status >= 200 && status < 300 && status !== 204) this.bodyLength = Number(length)
    this.status = status
    this.answer()
  }

  private onEnd (cut: () => Error): void {
    if (this.complete) return
    // a body without length or chunking ends with the connection; any other is cut short
    if (this.parser.finish() instanceof Error) this.fail(cut())
  }

  private finish (): void {
    if (this.complete) return
    this.complete = true
    this.notify()
  }

  private fail (err: Error): void {
    if (this.complete || this.failure !== undefined) return
    this.failure = err
    this.answer(err)
    this.socket.destroy()
    this.notify()
  }
}

/** Extra trust for https (a private registry's CA); default: Node's */
export type TlsOptions = Pick<ConnectionOptions, 'ca'>

/** An HTTP/1.1 GET (http: or https:); `signal` aborts connecting, waiting for headers, and reading the body. */
export async function http1Get (url: URL, headers: Record<string, string>, signal: AbortSignal, tls: TlsOptions = {}): Promise<UpstreamResponse> {
  signal.throwIfAborted()
  const exchange = new Exchange(url, headers, tls)
  const abort = (): void => { exchange.socket.destroy(signal.reason as Error) }
  signal.addEventListener('abort', abort, { once: true })
  exchange.socket.once('close', () => { signal.removeEventListener('abort', abort) })
  return await exchange.response()
}

function requestHead (url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`]
  for (const [name, value] of Object.entries(headers)) {
    // a header value from elsewhere (a token server's token) must not smuggle in lines of its own
    if (INVALID_HEADER_VALUE.test(value)) throw new TypeError(`invalid value for header ${name}`)
    lines.push(`${name}: ${value}`)
  }
  lines.push('connection: close', '', '')
  return lines.join('\r\n')
}

/**
 * A socket error that names the upstream: Node's "connect ECONNREFUSED 127.0.0.1:5000" does, but
 * "read ECONNRESET" (a proxy in front of a registry that is down accepts, then resets) says nothing
 * of where. The error's code stays.
 */
function naming (err: NodeJS.ErrnoException, host: string): Error {
  if (err.message.includes(host)) return err
  return Object.assign(new Error(`${host}: ${err.message}`, { cause: err }), { code: err.code })
}
