/** The distribution API's URL shapes; `name` may itself contain slashes, so it is matched greedily. */
export type Route =
  | { kind: 'base' }
  | { kind: 'manifest', name: string, reference: string }
  | { kind: 'blob', name: string, digest: string }
  | { kind: 'upload', name: string, id: string }
  | { kind: 'tags', name: string }
  | { kind: 'referrers', name: string, digest: string }

const ROUTES: Array<[RegExp, (m: RegExpExecArray) => Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, m => ({ kind: 'manifest', name: m[1] ?? '', reference: m[2] ?? '' })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/, m => ({ kind: 'upload', name: m[1] ?? '', id: m[2] ?? '' })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, m => ({ kind: 'blob', name: m[1] ?? '', digest: m[2] ?? '' })],
  [/^\/v2\/(.+)\/tags\/list$/, m => ({ kind: 'tags', name: m[1] ?? '' })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, m => ({ kind: 'referrers', name: m[1] ?? '', digest: m[2] ?? '' })]
]

/** Matches the raw (undecoded) path: an encoded `%2e%2e` stays visible to name validation. */
export function route (rawPath: string): Route | undefined {
  for (const [pattern, build] of ROUTES) {
    const match = pattern.exec(rawPath)
    if (match !== null) return build(match)
  }
  return undefined
}
