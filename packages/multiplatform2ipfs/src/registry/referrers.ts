/*
 * The referrers API (distribution-spec 1.1): the manifests of a repository that name a given
 * manifest as their `subject` (signatures, SBOMs, attestations attached to an image). A manifest
 * with a subject is indexed when it is pushed, by tag or by digest; `GET /v2/<name>/referrers/<digest>`
 * answers with an OCI image index of their descriptors, optionally filtered by `artifactType`.
 * The subject itself need not be here: referrers may be pushed before (or without) their subject.
 */
import { z } from 'zod'
import { parseDigest, type Digest } from '../digest.js'
import { InvalidManifestError } from '../errors.js'
import { OCI_INDEX } from '../media-types.js'
import { descriptorSchema, type Descriptor, type ParsedManifest } from '../manifest.js'
import { UnsupportedError } from './errors.js'
import { API_VERSION_HEADER, type RequestContext } from './http.js'
import type { Referrer, ReferrersIndex } from './referrers-index.js'

/**
 * The subject a pushed manifest or index names, or undefined. Parsed on the loose manifest (an
 * index's `subject` is not in our index schema), with the same descriptor rules as every other
 * descriptor, so a malformed subject is a MANIFEST_INVALID like any malformed descriptor.
 */
export function subjectOf (parsed: ParsedManifest): Descriptor | undefined {
  const body = (parsed.kind === 'index' ? parsed.index : parsed.manifest) as Record<string, unknown>
  if (body.subject === undefined) return undefined
  const result = descriptorSchema.safeParse(body.subject)
  if (!result.success) throw new InvalidManifestError(`invalid subject: ${z.prettifyError(result.error)}`)
  return result.data
}

/**
 * The descriptor the referrers list gives a pushed manifest: its media type, digest and size,
 * its annotations, and its artifact type: `artifactType` if set, else (image manifests) the
 * config's media type, as distribution-spec's "Listing Referrers" says.
 */
export function referrerOf (parsed: ParsedManifest, digest: Digest, size: number): Referrer {
  const body = (parsed.kind === 'index' ? parsed.index : parsed.manifest) as Record<string, unknown>
  const artifactType = typeof body.artifactType === 'string'
    ? body.artifactType
    : parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined
  const annotations = parsed.kind === 'index' ? parsed.index.annotations : parsed.manifest.annotations
  return {
    mediaType: parsed.mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined && Object.keys(annotations).length > 0 ? { annotations } : {})
  }
}

/** Referrers per answer; more are on the next page (`Link: <…>; rel="next"`, as the spec allows) */
export const REFERRERS_PAGE = 1000

/**
 * `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an OCI index, empty when nothing refers to it,
 * in digest order, REFERRERS_PAGE at a time. The next page's URL carries the last digest sent.
 */
export async function listReferrers (ctx: RequestContext, referrers: ReferrersIndex, name: string, reference: string): Promise<void> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') throw new UnsupportedError(`${ctx.req.method ?? ''} is not supported on referrers`)
  const subject = parseDigest(reference)
  const artifactType = ctx.url.searchParams.get('artifactType')
  const last = ctx.url.searchParams.get('last')
  let all = (await referrers.list(name, subject, { signal: ctx.signal })).sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)
  const headers: Record<string, string> = {}
  if (artifactType !== null) {
    all = all.filter(m => m.artifactType === artifactType)
    headers['oci-filters-applied'] = 'artifactType'
  }
  if (last !== null) all = all.filter(m => m.digest > last)
  const manifests = all.slice(0, REFERRERS_PAGE)
  const lastOfPage = manifests.at(-1)
  if (all.length > manifests.length && lastOfPage !== undefined) {
    const next = new URLSearchParams({ ...(artifactType !== null ? { artifactType } : {}), last: lastOfPage.digest })
    headers.link = `</v2/${name}/referrers/${subject}?${next.toString()}>; rel="next"`
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }))
  ctx.res.writeHead(200, { ...API_VERSION_HEADER, ...headers, 'content-type': OCI_INDEX, 'content-length': String(bytes.byteLength) })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : bytes)
}
