import { parseDigest, type Digest } from '../digest.js'
import { InvalidDigestError } from '../errors.js'
import { RangeInvalidError, UnsupportedError } from './errors.js'
import { API_VERSION_HEADER, sendEmpty, type RequestContext } from './http.js'
import { parseContentRange } from './range.js'
import type { RegistryStorage, ReadContext } from './storage.js'
import type { UploadSession, UploadSessions } from './upload-sessions.js'

/** `/v2/<name>/blobs/uploads/[<uuid>]`: POST, PATCH, PUT, GET (status), DELETE (cancel). */
export async function handleUpload (ctx: RequestContext, sessions: UploadSessions, storage: RegistryStorage, read: ReadContext, name: string, id: string): Promise<void> {
  const method = ctx.req.method ?? ''
  if (id === '') {
    if (method !== 'POST') throw new UnsupportedError(`${method} is not supported on ${ctx.url.pathname}`)
    return start(ctx, sessions, storage, read, name)
  }
  const session = sessions.get(name, id)
  switch (method) {
    case 'PATCH': return patch(ctx, sessions, session)
    case 'PUT': return finish(ctx, sessions, session, name)
    case 'GET': return sendEmpty(ctx, 204, status(session))
    case 'DELETE':
      await sessions.cancel(session)
      return sendEmpty(ctx, 204)
    default: throw new UnsupportedError(`${method} is not supported on uploads`)
  }
}

async function start (ctx: RequestContext, sessions: UploadSessions, storage: RegistryStorage, read: ReadContext, name: string): Promise<void> {
  const mount = ctx.url.searchParams.get('mount')
  if (mount !== null) {
    // the digest index is global, so any blob we hold can be mounted into any repository
    const digest = parseDigest(mount)
    const known = await storage.locate(name, digest, read).catch(() => undefined)
    if (known !== undefined) return created(ctx, name, digest)
  }
  const session = await sessions.start(name)
  const digest = ctx.url.searchParams.get('digest')
  if (digest !== null) {
    await sessions.append(session, ctx.req, ctx.signal)
    return finish(ctx, sessions, session, name)
  }
  sendEmpty(ctx, 202, status(session))
}

async function patch (ctx: RequestContext, sessions: UploadSessions, session: UploadSession): Promise<void> {
  await appendChunk(ctx, sessions, session)
  sendEmpty(ctx, 202, status(session))
}

async function finish (ctx: RequestContext, sessions: UploadSessions, session: UploadSession, name: string): Promise<void> {
  const param = ctx.url.searchParams.get('digest')
  if (param === null) throw new InvalidDigestError('the digest query parameter is required to complete an upload')
  const digest = parseDigest(param)
  await appendChunk(ctx, sessions, session)
  await sessions.finish(session, digest, ctx.signal)
  created(ctx, name, digest)
}

/**
 * A request body joins the upload (PATCH, or the last chunk on PUT). With a Content-Range it must
 * start where the upload ends: a chunk out of order is refused with 416 before a byte of it is
 * written, and the session stays as it was, so the client can ask for its status and resume.
 */
async function appendChunk (ctx: RequestContext, sessions: UploadSessions, session: UploadSession): Promise<void> {
  const range = parseContentRange(ctx.req.headers['content-range'])
  if (range !== undefined && range.start !== session.size) {
    throw new RangeInvalidError(`chunk starts at ${range.start}, the upload has ${session.size} bytes`, { expected: session.size })
  }
  const before = session.size
  await sessions.append(session, ctx.req, ctx.signal)
  if (range !== undefined && session.size - before !== range.end - range.start + 1) {
    await sessions.cancel(session)
    throw new RangeInvalidError(`Content-Range announced ${range.end - range.start + 1} bytes, the body had ${session.size - before}`)
  }
}

function created (ctx: RequestContext, name: string, digest: Digest): void {
  sendEmpty(ctx, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest })
}

function status (session: UploadSession): Record<string, string> {
  return {
    ...API_VERSION_HEADER,
    location: `/v2/${session.name}/blobs/uploads/${session.id}`,
    range: `0-${Math.max(0, session.size - 1)}`,
    'docker-upload-uuid': session.id
  }
}
