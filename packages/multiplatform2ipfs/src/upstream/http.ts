import { request } from 'undici'
import type { Readable } from 'node:stream'
import { NotFoundError, RegistryResponseError } from '../errors.js'
import { fixedSizePieces } from '../pieces.js'
import { http1Get } from './http1.js'

/**
 * What the client reads of an upstream answer. It is `undici.request`'s, not fetch's: fetch
 * hands the body over as a web stream, which costs more CPU than a Node stream (receiving
 * 288 MiB on loopback: ~0.47 s against 0.22–0.40 s; ~2.1 s against ~1.1 s with --optimize-for-size).
 */
export interface UpstreamResponse {
  status: number
  ok: boolean
  headers: { get: (name: string) => string | null }
  body: Readable
  /**
   * The body in pieces of exactly `size` bytes (the last may be shorter), each copied once into
   * `allocate`'s buffers (default: fresh ones); see fixedSizePieces. Instead of `body`, not with it.
   */
  pieces: (size: number, allocate?: (size: number) => Uint8Array) => AsyncGenerator<Uint8Array>
  /** Discards the body and frees the connection. */
  cancel: () => Promise<void>
}

export interface Timed {
  response: UpstreamResponse
  /** Stops the timer; call once the part of the exchange the timeout covers is over. */
  done: () => void
}

/**
 * undici's default (64 KiB): iterating a Node stream concatenates everything buffered on each
 * read, and with a larger buffer those concatenations cost more than the pauses they saved
 * (measured: 0.8 s of CPU per 288 MiB with 4 MiB)
 */
const BODY_HIGH_WATER_MARK = 64 * 1024

/**
 * A GET (through http1.ts for plain HTTP and for any blob, `bulk`; else undici) with a timeout
 * that can outlive the headers: manifests stop the clock after their body, blob downloads right
 * after the headers (a large layer may legitimately take hours), while the caller's signal aborts
 * the whole exchange at any time. Redirects are not followed.
 */
export async function timedFetch (url: URL, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal, bulk = false): Promise<Timed> {
  const timeout = new AbortController()
  const timer = setTimeout(() => { timeout.abort(new DOMException(`request to ${url.host} timed out after ${timeoutMs} ms`, 'TimeoutError')) }, timeoutMs)
  const done = (): void => { clearTimeout(timer) }
  // AbortSignal.any holds its sources weakly, so long-lived caller signals do not collect listeners
  const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal])
  try {
    // https keeps undici for small exchanges (its pooled connections save a TLS handshake each)
    if (url.protocol === 'http:' || bulk) return { response: await http1Get(url, headers, combined), done }
    const res = await request(url, { method: 'GET', headers, signal: combined, highWaterMark: BODY_HIGH_WATER_MARK })
    const response: UpstreamResponse = {
      status: res.statusCode,
      ok: res.statusCode >= 200 && res.statusCode < 300,
      headers: { get: name => headerValue(res.headers[name.toLowerCase()]) },
      body: res.body,
      pieces: (size, allocate) => fixedSizePieces(res.body as AsyncIterable<Uint8Array>, size, allocate),
      cancel: async () => { await res.body.dump().catch(() => {}) }
    }
    return { response, done }
  } catch (err) {
    done()
    throw err
  }
}

function headerValue (value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/** Reads a body up to `max` bytes, failing early on a larger Content-Length or stream. */
export async function readCapped (response: UpstreamResponse, max: number, onTooLarge: (size: number) => Error): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (declared > max) {
    await response.cancel()
    throw onTooLarge(declared)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength
    if (total > max) {
      response.body.destroy()
      throw onTooLarge(total)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

export function bodyStream (response: UpstreamResponse): AsyncIterable<Uint8Array> {
  return response.body as AsyncIterable<Uint8Array>
}

/** Turns a failed response into a named error, keeping the OCI error code if the body has one. */
export async function responseError (response: UpstreamResponse, what: string): Promise<RegistryResponseError> {
  let code: string | undefined
  let detail = ''
  try {
    const text = Buffer.from(await readCapped(response, 64 * 1024, size => new Error(`error body of ${size} bytes`))).toString('utf8')
    const body = JSON.parse(text) as { errors?: Array<{ code?: string, message?: string }> }
    code = body.errors?.[0]?.code
    detail = body.errors?.[0]?.message ?? ''
  } catch {
    // not an OCI error body; the status says enough
  }
  const message = `${what}: HTTP ${response.status}${code === undefined ? '' : ` ${code}`}${detail === '' ? '' : ` (${detail})`}`
  return response.status === 404 ? new NotFoundError(message, 404, code) : new RegistryResponseError(message, response.status, code)
}
