import { parseDigest } from '../digest.js'
import { UnsupportedError } from './errors.js'
import { sendStream, API_VERSION_HEADER, type RequestContext } from './http.js'
import { parseRange } from './range.js'
import type { RegistryComponents } from './components.js'
import type { RegistryStorage, ReadContext } from './storage.js'

/** `GET|HEAD /v2/<name>/blobs/<digest>`: streamed, with single byte ranges. */
export async function serveBlob (ctx: RequestContext, storage: RegistryStorage, read: ReadContext, name: string, reference: string, pace?: RegistryComponents['pace']): Promise<void> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') {
    throw new UnsupportedError(`${ctx.req.method ?? ''} is not supported on blobs`)
  }
  const digest = parseDigest(reference)
  const location = await storage.locate(name, digest, read)
  const range = parseRange(ctx.req.headers.range, location.size)
  const headers: Record<string, string> = {
    ...API_VERSION_HEADER,
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
    etag: `"${digest}"`,
    // content-addressed: the bytes under a digest never change
    'cache-control': 'max-age=31536000'
  }
  const length = range === undefined ? location.size : range.end - range.start + 1
  headers['content-length'] = String(length)
  if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end}/${location.size}`
  if (ctx.req.method === 'HEAD' || length === 0) {
    ctx.res.writeHead(range === undefined ? 200 : 206, headers).end()
    return
  }
  // wait for the first bytes before committing to a status: a block that never arrives is still a clean 503
  const body = await primed(storage.read(location, read, { offset: range?.start ?? 0, length }))
  ctx.res.writeHead(range === undefined ? 200 : 206, headers)
  await sendStream(ctx, pace == null ? body : paced(body, pace, ctx.signal))
}

/**
 * Each chunk waits for the pace before it goes, never after: the response ends with its last byte.
 * Waiting after it kept the response open for a pace interval past a complete body, and an engine
 * that closed its connection then (dockerd does, once it has the bytes) was logged as a failure.
 */
async function * paced (source: AsyncIterable<Uint8Array>, pace: NonNullable<RegistryComponents['pace']>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    await pace(chunk.byteLength, signal)
    yield chunk
  }
}

async function primed (source: AsyncGenerator<Uint8Array>): Promise<AsyncGenerator<Uint8Array>> {
  const first = await source.next()
  return (async function * () {
    if (first.done !== true) yield first.value
    yield * source
  })()
}
