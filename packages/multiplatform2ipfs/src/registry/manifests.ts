import { MAX_MANIFEST_BYTES } from '../constants.js'
import { ManifestTooLargeError } from '../errors.js'
import { DeniedError, NameInvalidError, UnsupportedError } from './errors.js'
import { API_VERSION_HEADER, readBody, type RequestContext } from './http.js'
import { isTag, parseManifestReference } from './names.js'
import { MAX_TAG_PARAMS, type ManifestPusher, type PushReference } from './push.js'
import type { ReadContext, RegistryStorage } from './storage.js'

/**
 * `GET|HEAD|PUT /v2/<name>/manifests/<tag|digest>`. What is stored is served as is, whatever the
 * Accept header says: we never convert, and Docker accepts every type we can hold.
 */
export async function handleManifest (ctx: RequestContext, storage: RegistryStorage, pusher: ManifestPusher, read: ReadContext, name: string, reference: string): Promise<void> {
  // the method first: DELETE (content management, not offered) is 405 whatever the reference
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD' && ctx.req.method !== 'PUT') {
    throw new UnsupportedError(`${ctx.req.method ?? ''} is not supported on manifests`)
  }
  const ref = parseManifestReference(reference)
  if (ctx.req.method === 'PUT') {
    const push = pushReference(ref, ctx.url.searchParams.getAll('tag'))
    const tags = 'tag' in push ? [push.tag] : push.tags ?? []
    // a tag is recorded for the whole mesh: refuse it here, before the body, rather than write a record the mesh drops
    const denied = tags.length > 0 ? pusher.denies() : undefined
    if (denied != null) throw new DeniedError(`this node may not record ${tags.map(tag => `${name}:${tag}`).join(', ')} for the mesh: ${denied}`)
    const body = await readBody(ctx.req, MAX_MANIFEST_BYTES, () => new ManifestTooLargeError(`manifest is over the ${MAX_MANIFEST_BYTES} byte limit`))
    const pushed = await pusher.put(name, push, body, ctx.req.headers['content-type'], read)
    const headers: Record<string, string | string[]> = {
      ...API_VERSION_HEADER,
      location: `/v2/${name}/manifests/${pushed.digest}`,
      'docker-content-digest': pushed.digest,
      'content-length': '0'
    }
    // tells the client this registry indexes referrers, so it need not keep a referrers tag itself
    if (pushed.subject !== undefined) headers['oci-subject'] = pushed.subject
    // a push by digest with ?tag= says which tags it recorded (a registry that ignores them sends none)
    if ('digest' in push && pushed.tags !== undefined) headers['oci-tag'] = pushed.tags
    ctx.res.writeHead(201, headers).end()
    return
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

/** A PUT by tag, or by digest with the tags of its `?tag=` parameters (distribution-spec after 1.1) */
function pushReference (ref: ReturnType<typeof parseManifestReference>, tagParams: string[]): PushReference {
  if ('tag' in ref || tagParams.length === 0) return ref
  if (tagParams.length > MAX_TAG_PARAMS) throw new NameInvalidError(`at most ${MAX_TAG_PARAMS} tag parameters, got ${tagParams.length}`)
  for (const tag of tagParams) {
    if (!isTag(tag)) throw new NameInvalidError(`invalid tag "${tag.slice(0, 200)}"`, { tag: tag.slice(0, 200) })
  }
  return { digest: ref.digest, tags: [...new Set(tagParams)] }
}
