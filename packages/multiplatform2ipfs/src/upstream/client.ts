import { DEFAULT_REQUEST_TIMEOUT_MS, MAX_MANIFEST_BYTES } from '../constants.js'
import { isDigest, sha256Digest, verifyStream, type Digest, type Expected, type StreamHasher } from '../digest.js'
import { DigestMismatchError, ManifestTooLargeError, RegistryResponseError, SizeMismatchError, UnauthorizedError } from '../errors.js'
import { MANIFEST_ACCEPT, baseMediaType } from '../media-types.js'
import { Authenticator, type CredentialsSource } from './auth.js'
import { assertSecure, registryBaseUrl, type EndpointOptions } from './endpoint.js'
import { bodyStream, readCapped, responseError, timedFetch, type Timed } from './http.js'
import { parseChallenge } from './www-authenticate.js'

export interface RegistryClientInit extends EndpointOptions {
  credentials?: CredentialsSource
  /** Covers connecting, headers, manifest bodies and tokens; never a blob body. Default 30 s. */
  requestTimeoutMs?: number
}

/** Where a repository lives; an ImageReference fits. */
export interface RepositoryName {
  registry: string
  repository: string
}

export interface ManifestResult {
  bytes: Uint8Array
  /** The Content-Type the registry served, without parameters (may be undefined). */
  contentType: string | undefined
  /** Computed locally from the bytes. */
  digest: Digest
  size: number
}

export interface RequestOptions {
  signal?: AbortSignal
}

export interface BlobOptions extends RequestOptions {
  /**
   * Yield the body in pieces of exactly this many bytes (the last may be shorter). An importer
   * passes its chunk size, so each piece becomes one block without being copied again, and
   * everything downstream handles one piece per block instead of one per network read.
   */
  chunkSize?: number
  /** Where pieces are copied to (default: fresh buffers); see fixedSizePieces */
  allocate?: (size: number) => Uint8Array
  /** Hashes the body for its digest check (default: on this thread); see verifyStream */
  hasher?: StreamHasher
}

/** A read-only client for the Docker Registry HTTP API v2 / OCI distribution API. */
export interface RegistryClient {
  /** `GET /v2/`: resolves once the registry answers and accepts us. */
  ping(registry: string, options?: RequestOptions): Promise<void>
  /** Fetches a manifest by tag or digest; by digest, the bytes are checked against it. */
  getManifest(name: RepositoryName, reference: string, options?: RequestOptions): Promise<ManifestResult>
  /** Streams a blob, following redirects; throws at the end unless size and digest verified. */
  getBlob(name: RepositoryName, expected: Expected, options?: BlobOptions): AsyncGenerator<Uint8Array>
}

/** A blob's exchange: a large body, read best on a connection of its own (see timedFetch) */
interface Bulk { bulk?: boolean }

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 5

class HttpRegistryClient implements RegistryClient {
  private readonly auth: Authenticator
  private readonly timeoutMs: number

  constructor (private readonly init: RegistryClientInit) {
    this.timeoutMs = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.auth = new Authenticator({ credentials: init.credentials, allowInsecure: init.allowInsecure, timeoutMs: this.timeoutMs })
    if (init.upstream !== undefined) {
      registryBaseUrl('', init) // fail at construction on a bad or insecure upstream
    }
  }

  async ping (registry: string, options: RequestOptions = {}): Promise<void> {
    const { response, done } = await this.request(registry, '', '/v2/', {}, options)
    done()
    if (!response.ok) {
      throw await responseError(response, `ping ${registry}`)
    }
    await response.cancel()
  }

  async getManifest (name: RepositoryName, reference: string, options: RequestOptions = {}): Promise<ManifestResult> {
    const what = `manifest ${name.repository}${isDigest(reference) ? '@' : ':'}${reference}`
    const { response, done } = await this.request(name.registry, name.repository, `/v2/${name.repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, options)
    try {
      if (!response.ok) {
        throw await responseError(response, what)
      }
      const bytes = await readCapped(response, MAX_MANIFEST_BYTES, size => new ManifestTooLargeError(`${what} is ${size} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`))
      const digest = sha256Digest(bytes)
      if (isDigest(reference) && digest !== reference) {
        throw new DigestMismatchError(`${what}: content hashes to ${digest}`)
      }
      const served = response.headers.get('docker-content-digest')
      if (isDigest(served) && served !== digest) {
        throw new DigestMismatchError(`${what}: registry says ${served}, content hashes to ${digest}`)
      }
      return { bytes, contentType: baseMediaType(response.headers.get('content-type')), digest, size: bytes.byteLength }
    } finally {
      done()
    }
  }

  async * getBlob (name: RepositoryName, expected: Expected, options: BlobOptions = {}): AsyncGenerator<Uint8Array> {
    const what = `blob ${name.repository}@${expected.digest}`
    const { response, done } = await this.request(name.registry, name.repository, `/v2/${name.repository}/blobs/${expected.digest}`, {}, { ...options, bulk: true })
    done()
    if (!response.ok) {
      throw await responseError(response, what)
    }
    const declared = response.headers.get('content-length')
    if (declared !== null && Number(declared) !== expected.size) {
      await response.cancel()
      throw new SizeMismatchError(`${what}: expected ${expected.size} bytes, registry announces ${declared}`)
    }
    const body = options.chunkSize === undefined ? bodyStream(response) : response.pieces(options.chunkSize, options.allocate)
    yield * verifyStream(body, expected, options)
  }

  /** One authenticated request: a cached header first, then one retry answering the challenge. */
  private async request (registry: string, repository: string, path: string, headers: Record<string, string>, options: RequestOptions & Bulk): Promise<Timed> {
    const base = registryBaseUrl(registry, this.init)
    const url = new URL(`${base.href.replace(/\/$/, '')}${path}`)
    const scope = repository === '' ? '' : `repository:${repository}:pull`
    let authorization = this.auth.cached(base, scope)
    for (let attempt = 0; ; attempt++) {
      const timed = await this.fetchFollowing(url, authorization === undefined ? headers : { ...headers, authorization }, options)
      if (timed.response.status !== 401) {
        return timed
      }
      timed.done()
      await timed.response.cancel()
      if (attempt > 0) {
        throw new UnauthorizedError(`${url.host} refused our credentials for ${path}`)
      }
      const challenge = parseChallenge(timed.response.headers.get('www-authenticate'))
      authorization = await this.auth.respond(base, registry, scope, challenge, options)
    }
  }

  /** Follows redirects by hand so the registry's Authorization never reaches another origin (blob storage). */
  private async fetchFollowing (start: URL, headers: Record<string, string>, options: RequestOptions & Bulk): Promise<Timed> {
    let url = start
    let sent = headers
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const timed = await timedFetch(url, sent, this.timeoutMs, options.signal, options.bulk)
      const location = timed.response.headers.get('location')
      if (!REDIRECTS.has(timed.response.status) || location === null) {
        return timed
      }
      timed.done()
      await timed.response.cancel()
      const next = new URL(location, url)
      assertSecure(next, this.init.allowInsecure)
      if (next.origin !== url.origin) {
        const { authorization: _dropped, ...rest } = sent
        sent = rest
      }
      url = next
    }
    throw new RegistryResponseError(`too many redirects from ${start.href}`, 310)
  }
}

export function createRegistryClient (init: RegistryClientInit = {}): RegistryClient {
  return new HttpRegistryClient(init)
}
