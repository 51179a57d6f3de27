import { describe, expect, it } from 'vitest'
import { InvalidReferenceError } from '../src/errors.js'
import { formatReference, parseReference } from '../src/reference.js'

const HEX = 'a'.repeat(64)

describe('parseReference', () => {
  it.each([
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['busybox:1.35.0', { registry: 'docker.io', repository: 'library/busybox', tag: '1.35.0' }],
    ['user/app:1', { registry: 'docker.io', repository: 'user/app', tag: '1' }],
    ['docker.io/library/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['index.docker.io/nginx:alpine', { registry: 'docker.io', repository: 'library/nginx', tag: 'alpine' }],
    ['ghcr.io/org/app:tag', { registry: 'ghcr.io', repository: 'org/app', tag: 'tag' }],
    ['127.0.0.1:5001/x/y:z', { registry: '127.0.0.1:5001', repository: 'x/y', tag: 'z' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/a/b/c', { registry: 'localhost:5000', repository: 'a/b/c', tag: 'latest' }],
    ['[::1]:5000/app:v1', { registry: '[::1]:5000', repository: 'app', tag: 'v1' }],
    ['my-registry.example.com:443/team/svc_api.v2:1.0-rc_1', { registry: 'my-registry.example.com:443', repository: 'team/svc_api.v2', tag: '1.0-rc_1' }],
    ['a__b/c--d:T', { registry: 'docker.io', repository: 'a__b/c--d', tag: 'T' }],
    [`busybox@sha256:${HEX}`, { registry: 'docker.io', repository: 'library/busybox', digest: `sha256:${HEX}` }],
    [`busybox:1@sha256:${HEX}`, { registry: 'docker.io', repository: 'library/busybox', tag: '1', digest: `sha256:${HEX}` }],
    [`ghcr.io/o/a@sha256:${HEX}`, { registry: 'ghcr.io', repository: 'o/a', digest: `sha256:${HEX}` }]
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected)
  })

  it.each([
    ['', /empty/],
    [HEX, /image ID/],
    ['Busybox', /lowercase/],
    ['docker.io/User/app', /lowercase/],
    ['busybox:', /tag/],
    ['busybox:-bad', /tag/],
    [`busybox:${'t'.repeat(129)}`, /tag/],
    ['busybox:a/b', /registry host/],
    ['-app', /path component/],
    ['app-', /path component/],
    ['a//b', /path component/],
    ['a/b/', /path component/],
    ['app@sha256:abc', /64 lowercase hex/],
    [`app@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm "sha512"/],
    [`app@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    ['exa_mple.com/app', /registry host/],
    ['-bad.com:5000/app', /registry host/],
    ['app:tag:tag2', /lowercase|path component|tag/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
    ['a...b', /path component/],
    ['a b', /path component/]
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(InvalidReferenceError)
    expect(() => parseReference(input)).toThrow(message)
  })

  it('is not vulnerable to catastrophic backtracking on long dash runs', () => {
    const start = performance.now()
    expect(() => parseReference(`a${'-'.repeat(5000)}!`)).toThrow(InvalidReferenceError)
    expect(performance.now() - start).toBeLessThan(500)
  })
})

describe('formatReference', () => {
  it.each([
    ['busybox:1.35.0', 'busybox:1.35.0', 'docker.io/library/busybox:1.35.0'],
    ['busybox', 'busybox:latest', 'docker.io/library/busybox:latest'],
    ['user/app:1', 'user/app:1', 'docker.io/user/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1', 'docker.io/library/a/b:1'],
    ['ghcr.io/org/app:tag', 'ghcr.io/org/app:tag', 'ghcr.io/org/app:tag'],
    ['127.0.0.1:5001/x/y:z', '127.0.0.1:5001/x/y:z', '127.0.0.1:5001/x/y:z'],
    [`busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`]
  ])('%s → %s / %s', (input, familiar, canonical) => {
    const ref = parseReference(input)
    expect(formatReference(ref)).toBe(familiar)
    expect(formatReference(ref, { canonical: true })).toBe(canonical)
    expect(parseReference(formatReference(ref))).toEqual(ref)
  })
})
