import { MAX_MANIFEST_BYTES } from '../constants.js'
import { ManifestTooLargeError } from '../errors.js'
import { DeniedError, UnsupportedError } from './errors.js'
import { API_VERSION_HEADER, readBody, type RequestContext } from './http.js'
import { parseManifestReference } from './names.js'
import type { ManifestPusher } from './push.js'
import type { ReadContext, RegistryStorage } from './storage.js'

/**
 * `GET|HEAD|PUT /v2/<name>/manifests/<tag|digest>`. What is stored is served as is, whatever the
 * Accept header says: we never convert, and Docker accepts every type we can hold.
 */
export async function handleManifest (ctx: RequestContext, storage: RegistryStorage, pusher: ManifestPusher, read: ReadContext, name: string, reference: string): Promise<void> {
  const ref = parseManifestReference(reference)
  if (ctx.req.method === 'PUT') {
    // a tag is recorded for the whole mesh: refuse it here, before the body, rather than write a record the mesh drops
    const denied = 'tag' in ref ? pusher.denies() : undefined
    if (denied != null) throw new DeniedError(`this node may not record ${name}:${(ref as { tag: string }).tag} for the mesh: ${denied}`)
    const body = await readBody(ctx.req, MAX_MANIFEST_BYTES, () => new ManifestTooLargeError(`manifest is over the ${MAX_MANIFEST_BYTES} byte limit`))
    const { digest, subject } = await pusher.put(name, ref, body, ctx.req.headers['content-type'], read)
    ctx.res.writeHead(201, {
      ...API_VERSION_HEADER,
      location: `/v2/${name}/manifests/${digest}`,
      'docker-content-digest': digest,
      // tells the client this registry indexes referrers, so it need not keep a referrers tag itself
      ...(subject !== undefined ? { 'oci-subject': subject } : {}),
      'content-length': '0'
    }).end()
    return
  }
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') {
    throw new UnsupportedError(`${ctx.req.method ?? ''} is not supported on manifests`)
  }
  const manifest = 'tag' in ref
    ? await storage.manifestByTag(name, ref.tag, read)
    : await storage.manifestByDigest(name, ref.digest, read)
  ctx.res.writeHead(200, {
    ...API_VERSION_HEADER,
    'content-type': manifest.mediaType,
    'content-length': String(manifest.bytes.byteLength),
    'docker-content-digest': manifest.digest,
    etag: `"${manifest.digest}"`
  })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : manifest.bytes)
}
