import { Readable } from 'node:stream'
import { NotFoundError, RegistryResponseError } from '../errors.js'

export interface Timed {
  response: Response
  /** Stops the timer; call once the part of the exchange the timeout covers is over. */
  done: () => void
}

/**
 * fetch with a timeout that can outlive the headers: manifests stop the clock after their
 * body, blob downloads right after the headers (a large layer may legitimately take hours),
 * while the caller's signal aborts the whole exchange at any time.
 */
export async function timedFetch (url: URL, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Timed> {
  const timeout = new AbortController()
  const timer = setTimeout(() => { timeout.abort(new DOMException(`request to ${url.host} timed out after ${timeoutMs} ms`, 'TimeoutError')) }, timeoutMs)
  const done = (): void => { clearTimeout(timer) }
  // AbortSignal.any holds its sources weakly, so long-lived caller signals do not collect listeners
  const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal])
  try {
    return { response: await fetch(url, { ...init, signal: combined }), done }
  } catch (err) {
    done()
    throw err
  }
}

/** Reads a body up to `max` bytes, failing early on a larger Content-Length or stream. */
export async function readCapped (response: Response, max: number, onTooLarge: (size: number) => Error): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (declared > max) {
    await response.body?.cancel()
    throw onTooLarge(declared)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of bodyStream(response)) {
    total += chunk.byteLength
    if (total > max) {
      throw onTooLarge(total)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

export function bodyStream (response: Response): AsyncIterable<Uint8Array> {
  if (response.body === null) {
    return Readable.from([])
  }
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>)
}

/** Turns a failed response into a named error, keeping the OCI error code if the body has one. */
export async function responseError (response: Response, what: string): Promise<RegistryResponseError> {
  let code: string | undefined
  let detail = ''
  try {
    const body = await response.json() as { errors?: Array<{ code?: string, message?: string }> }
    code = body.errors?.[0]?.code
    detail = body.errors?.[0]?.message ?? ''
  } catch {
    // not an OCI error body; the status says enough
  }
  const message = `${what}: HTTP ${response.status}${code === undefined ? '' : ` ${code}`}${detail === '' ? '' : ` (${detail})`}`
  return response.status === 404 ? new NotFoundError(message, 404, code) : new RegistryResponseError(message, response.status, code)
}
