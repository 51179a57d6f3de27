import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { pushSingleImage, type PushedImage } from './helpers/images.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'

/**
 * Random and mutated requests against our registry over raw sockets (fast-check): methods,
 * paths (traversal, encoded NULs and slashes, bad UTF-8), headers (content types, ranges),
 * bodies (garbage, bad UTF-8, mutated manifests). Every answer comes in time, never a 5xx for a
 * client's mistake, every error is an OCI error body, and the image pushed first is intact.
 */
const OCI_CODES = new Set(['BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'RANGE_INVALID', 'UNSUPPORTED', 'DENIED', 'UNAUTHORIZED', 'TOOMANYREQUESTS'])

interface RawAnswer { status: number, headers: string, body: Buffer }

/** One HTTP/1.1 request, bytes exactly as given; the answer, or an error after `timeoutMs` (a hang) */
async function send (host: string, port: number, head: Buffer, body: Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host)
    const parts: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer in time')) }, timeoutMs)
    // written, not ended: a half-close means "gone" to the server, which then stops work for the
    // request (a client that disconnects must not keep block fetches alive); Connection: close ends it
    socket.on('connect', () => { socket.write(Buffer.concat([head, body])) })
    socket.on('data', d => parts.push(d))
    socket.on('error', () => { /* a reset after the answer is fine: the close below decides */ })
    socket.on('close', () => {
      clearTimeout(timer)
      let raw = Buffer.concat(parts)
      // an interim 100 Continue (Expect: 100-continue) comes before the answer
      while (/^HTTP\/1\.1 1\d\d/.test(raw.subarray(0, 12).toString('latin1')) && raw.includes('\r\n\r\n')) raw = raw.subarray(raw.indexOf('\r\n\r\n') + 4)
      const split = raw.indexOf('\r\n\r\n')
      const headers = raw.subarray(0, split < 0 ? raw.length : split).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0)
      let payload: Buffer = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4)
      if (/transfer-encoding: chunked/i.test(headers)) payload = dechunk(payload)
      resolve({ status, headers, body: payload })
    })
  })
}

function dechunk (data: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  while (at < data.length) {
    const eol = data.indexOf('\r\n', at)
    const size = parseInt(data.subarray(at, eol).toString(), 16)
    if (!(size > 0)) break
    out.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(out)
}

let ours: RunningOciRegistry
let image: PushedImage

beforeAll(async () => {
  ours = await startOciRegistry()
  image = await pushSingleImage(ours.url, 'fuzz/app', '1')
})

afterAll(async () => { await ours?.stop() })

const segment = fc.oneof(
  fc.constantFrom('fuzz', 'app', 'library', 'busybox', '..', '.', '%2e%2e', '%2F', '%00', '%ff%fe', '%c0%af', '~', 'a'.repeat(300), ''),
  fc.stringMatching(/^[a-z0-9._-]{1,12}$/),
  fc.string({ maxLength: 8 }).map(s => encodeURIComponent(s))
)
const digestish = (img: () => PushedImage): fc.Arbitrary<string> => fc.oneof(
  fc.constant('').map(() => img().digest),
  fc.constant('').map(() => img().manifests[0]?.layers[0]?.digest ?? ''),
  fc.constantFrom('sha256:' + '0'.repeat(64), 'sha256:xyz', 'sha512:' + 'a'.repeat(128), 'md5:abc', 'sha256:' + 'A'.repeat(64)),
  fc.stringMatching(/^sha256:[0-9a-f]{0,70}$/)
)
const path = fc.oneof(
  fc.array(segment, { maxLength: 6 }).map(s => `/v2/${s.join('/')}`),
  fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.constantFrom('blobs', 'manifests'), digestish(() => image))
    .map(([name, kind, d]) => `/v2/${name.join('/')}/${kind}/${d}`),
  fc.tuple(fc.constantFrom('fuzz/app', 'fuzz/../app', 'FUZZ/app', 'fuzz//app'), fc.constantFrom('manifests/1', 'manifests/latest', 'tags/list', 'tags/list?n=-1&last=%ff', 'blobs/uploads/', 'blobs/uploads/0000', 'referrers/sha256:' + '1'.repeat(64)))
    .map(([name, rest]) => `/v2/${name}/${rest}`),
  fc.constantFrom('/v2/', '/v2', '/', '/v2/_catalog', '/../../etc/passwd', '/v2/%2e%2e/%2e%2e/etc/passwd', '//v2//')
)
const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'BREW')
const header = fc.oneof(
  fc.constantFrom('Content-Type: application/vnd.oci.image.manifest.v1+json', 'Content-Type: application/vnd.docker.distribution.manifest.v2+json',
    'Content-Type: application/vnd.oci.image.index.v1+json', 'Content-Type: text/plain', 'Content-Type: ;;;', 'Content-Type: application/json; charset=utf-16',
    'Range: bytes=0-0', 'Range: bytes=5-2', 'Range: bytes=-1', 'Range: bytes=0-99999999999', 'Range: chars=0-1', 'Content-Range: 0-10', 'Content-Range: 10-0',
    'Accept: */*', 'Accept: application/vnd.oci.image.index.v1+json', 'Accept-Encoding: gzip', 'Expect: 100-continue'),
  fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), fc.stringMatching(/^[ -~]{0,40}$/)).map(([k, v]) => `X-${k}: ${v}`)
)
const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 4096 }).map(b => Buffer.from(b)),
  fc.constant(Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0x80])),
  fc.constant('').map(() => Buffer.from(image.bytes)),
  fc.tuple(fc.nat({ max: 200 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
    const mutated = Buffer.from(image.bytes)
    mutated[at % mutated.length] = byte
    return mutated
  }),
  fc.jsonValue({ maxDepth: 4 }).map(v => Buffer.from(JSON.stringify(v)))
)

describe('registry under random and mutated requests', () => {
  it('answers every request in time with an OCI error body or a success, never a 5xx', async () => {
    const port = Number(new URL(ours.url).port)
    let requests = 0
    await fc.assert(fc.asyncProperty(method, path, fc.array(header, { maxLength: 4 }), body, async (m, p, headers, b) => {
      requests++
      const head = Buffer.concat([Buffer.from(`${m} `), Buffer.from(p, 'latin1'), Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map(h => `${h}\r\n`).join('')}Content-Length: ${b.length}\r\nConnection: close\r\n\r\n`)])
      const answer = await send('127.0.0.1', port, head, b)
      expect(answer.status, `${m} ${p}`).toBeGreaterThanOrEqual(200)
      expect(answer.status, `${m} ${p}: ${answer.body.toString().slice(0, 200)}`).toBeLessThan(500)
      if (answer.status >= 400 && m !== 'HEAD' && answer.body.length > 0) {
        const parsed = JSON.parse(answer.body.toString()) as { errors?: Array<{ code: string, message: string }> }
        expect(OCI_CODES.has(parsed.errors?.[0]?.code ?? ''), `${m} ${p}: ${answer.body.toString().slice(0, 200)}`).toBe(true)
      }
    }), { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 20261204) })
    expect(requests).toBe(400)
  }, 120_000)

  it('refuses a huge manifest and a huge body to a manifest URL promptly, without reading it all', async () => {
    const port = Number(new URL(ours.url).port)
    const huge = Buffer.alloc(8 * 1024 * 1024, 0x7b)
    const head = Buffer.from(`PUT /v2/fuzz/app/manifests/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: ${huge.length}\r\nConnection: close\r\n\r\n`)
    const answer = await send('127.0.0.1', port, head, huge)
    expect(answer.status).toBe(413)
    expect((JSON.parse(answer.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe('MANIFEST_INVALID')
  })

  it('keeps the image pushed before the storm intact (by digest: the storm may legitimately push to its tag)', async () => {
    const res = await fetch(`${ours.url}/v2/fuzz/app/manifests/${image.digest}`, { headers: { accept: image.mediaType } })
    expect(res.status).toBe(200)
    expect(res.headers.get('docker-content-digest')).toBe(image.digest)
    for (const [digest, blob] of image.blobs) {
      const got = await fetch(`${ours.url}/v2/fuzz/app/blobs/${digest}`)
      expect(got.status).toBe(200)
      expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(blob.bytes))).toBe(true)
    }
  })
})
