import { NameUnknownError, UnsupportedError } from './errors.js'
import { sendJson, type RequestContext } from './http.js'
import type { ReadContext, RegistryStorage } from './storage.js'

/** `GET /v2/<name>/tags/list?n=&last=`, paginated with a `Link: <…>; rel="next"` header. */
export async function listTags (ctx: RequestContext, storage: RegistryStorage, read: ReadContext, name: string): Promise<void> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') throw new UnsupportedError(`${ctx.req.method ?? ''} is not supported on tags`)
  const all = await storage.tags(name, read)
  if (all.length === 0) throw new NameUnknownError(`repository ${name} is not known`, { name })
  const last = ctx.url.searchParams.get('last')
  const n = parseLimit(ctx.url.searchParams.get('n'))
  const after = last === null ? all : all.filter(tag => tag > last)
  const page = n === undefined ? after : after.slice(0, n)
  const headers: Record<string, string> = {}
  const lastOfPage = page[page.length - 1]
  if (n !== undefined && after.length > page.length && lastOfPage !== undefined) {
    headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastOfPage)}>; rel="next"`
  }
  sendJson(ctx, 200, { name, tags: page }, headers)
}

/** `n` must be a non-negative integer; a bad value is ignored as distribution does. */
function parseLimit (value: string | null): number | undefined {
  if (value === null || !/^\d{1,6}$/.test(value)) return undefined
  return Number(value)
}
