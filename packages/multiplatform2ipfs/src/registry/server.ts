/*
 * The OCI distribution API served from IPFS. Pull: manifests, blobs and tags of images named by
 * their layout root CID or by any name:tag in the catalog. Push: uploads and manifests, which turn
 * into an image layout in IPFS recorded in the catalog. Content discovery: tags and referrers. Plain node:http, no framework: one handler
 * per resource, errors mapped to OCI codes in one place.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import { DEFAULT_READ_AHEAD, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_UPLOAD_IDLE_MS, type RegistryComponents, type RegistryInit } from './components.js'
import { serveBlob } from './blobs.js'
import { DeniedError, NameInvalidError, UnsupportedError } from './errors.js'
import { hostAllowed } from './host.js'
import { requestContext, sendError, sendJson, type RequestContext } from './http.js'
import { handleManifest } from './manifests.js'
import { validateName } from './names.js'
import { manifestPusher } from './push.js'
import { observeRequest } from './observe.js'
import { listReferrers } from './referrers.js'
import { memoryReferrersIndex } from './referrers-index.js'
import { route } from './router.js'
import { RegistryStorage, type ReadContext } from './storage.js'
import { listTags } from './tags.js'
import { UploadSessions } from './upload-sessions.js'
import { StallWatchdog } from './watchdog.js'
import { handleUpload } from './uploads.js'

export interface Registry {
  handler: RequestListener
  /** Listens on host:port (port 0 picks one); resolves to the bound port. */
  listen(port: number, host?: string): Promise<number>
  /** Stops listening, ends open connections and deletes unfinished uploads. */
  close(): Promise<void>
  /** Bytes the uploads being received hold in uploadsDir now (a disk budget counts them live) */
  uploadBytes(): number
}

/** Longest path we route: a 255-character name plus a digest fits easily; longer is an attack or a mistake. */
const MAX_PATH = 1024

export function createRegistry (components: RegistryComponents, init: RegistryInit = {}): Registry {
  const storage = new RegistryStorage(components)
  const sessions = new UploadSessions(components, init)
  const referrers = components.referrers ?? memoryReferrersIndex()
  const pusher = manifestPusher(components, init.importedBy ?? 'local', referrers)
  const stallTimeoutMs = init.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS
  const readAhead = init.readAhead ?? DEFAULT_READ_AHEAD
  const idleMs = init.uploadIdleMs ?? DEFAULT_UPLOAD_IDLE_MS

  const allowedHosts = new Set((init.allowedHosts ?? []).map(h => h.toLowerCase()))
  const dispatch = async (ctx: RequestContext): Promise<void> => {
    if (!hostAllowed(ctx.req.headers.host, allowedHosts)) throw new DeniedError(`host "${String(ctx.req.headers.host ?? '').slice(0, 100)}" is not served here (allowed: IP addresses, localhost${allowedHosts.size > 0 ? `, ${[...allowedHosts].join(', ')}` : ''})`)
    if (ctx.rawPath.length > MAX_PATH) throw new NameInvalidError(`request path is longer than ${MAX_PATH} characters`)
    const r = route(ctx.rawPath)
    if (r === undefined) throw new UnsupportedError(`${ctx.req.method ?? ''} ${ctx.rawPath.slice(0, 200)} is not part of the distribution API`)
    if (r.kind === 'base') return sendJson(ctx, 200, {})
    const name = validateName(r.name)
    const read: ReadContext = { signal: ctx.signal, watchdog: new StallWatchdog(stallTimeoutMs, ctx.signal), readAhead }
    switch (r.kind) {
      case 'manifest': return handleManifest(ctx, storage, pusher, read, name, r.reference)
      case 'blob': return serveBlob(ctx, storage, read, name, r.digest, components.pace)
      case 'upload': return handleUpload(ctx, sessions, storage, read, name, r.id)
      case 'tags': return listTags(ctx, storage, read, name)
      case 'referrers': return listReferrers(ctx, referrers, name, r.digest)
    }
  }

  const handler: RequestListener = (req, res) => {
    const ctx = requestContext(req, res)
    if (init.onRequest != null) observeRequest(req, res, ctx.rawPath, init.onRequest)
    // a promise chain from the first line: nothing a client sends can become an unhandled rejection
    Promise.resolve().then(async () => dispatch(ctx)).catch((err: unknown) => { sendError(ctx, err, components.log) })
  }

  let server: Server | undefined
  const sweeper = setInterval(() => { sessions.sweep(idleMs).catch(() => {}) }, Math.min(idleMs, 60_000))
  sweeper.unref()

  return {
    handler,
    async listen (port, host = '127.0.0.1') {
      await sessions.open()
      server = createServer({ keepAliveTimeout: 30_000 }, handler)
      const s = server
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen(port, host, () => { s.off('error', reject); resolve() })
      })
      const address = s.address()
      return typeof address === 'object' && address !== null ? address.port : port
    },
    uploadBytes: () => sessions.bytes,
    async close () {
      clearInterval(sweeper)
      const s = server
      server = undefined
      if (s !== undefined) {
        s.closeAllConnections()
        await new Promise<void>(resolve => { s.close(() => { resolve() }) })
      }
      await sessions.close()
    }
  }
}
