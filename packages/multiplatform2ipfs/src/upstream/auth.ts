import { DEFAULT_TOKEN_TTL_SECONDS } from '../constants.js'
import { UnauthorizedError } from '../errors.js'
import { assertSecure } from './endpoint.js'
import type { Challenge } from './www-authenticate.js'

export interface Credentials {
  username: string
  password: string
}

/** Fixed credentials, or a lookup by registry host (like Docker's config.json). */
export type CredentialsSource = Credentials | ((registry: string) => Credentials | undefined)

export interface AuthInit {
  credentials?: CredentialsSource
  allowInsecure?: boolean
  timeoutMs: number
}

interface CachedAuth {
  header: string
  expires: number
}

/**
 * Answers registry challenges: anonymous or credentialed bearer tokens (Docker token spec),
 * or plain basic auth. Headers are cached per registry base and scope until they expire.
 */
export class Authenticator {
  private readonly cache = new Map<string, CachedAuth>()

  constructor (private readonly init: AuthInit) {}

  /** The header to send preemptively, if one is cached and still fresh. */
  cached (base: URL, scope: string): string | undefined {
    const key = `${base.href} ${scope}`
    const entry = this.cache.get(key)
    if (entry !== undefined && entry.expires <= Date.now()) {
      this.cache.delete(key)
      return undefined
    }
    return entry?.header
  }

  /** Obtains (and caches) an Authorization header answering `challenge`; throws UnauthorizedError. */
  async respond (base: URL, registry: string, scope: string, challenge: Challenge | undefined, options: { signal?: AbortSignal }): Promise<string> {
    const credentials = this.credentials(registry)
    let header: string
    let ttl = Infinity
    if (challenge?.scheme === 'bearer') {
      const token = await this.fetchToken(challenge, scope, credentials, options)
      header = `Bearer ${token.token}`
      ttl = token.ttlSeconds
    } else if (challenge?.scheme === 'basic' && credentials !== undefined) {
      header = basicHeader(credentials)
    } else {
      throw new UnauthorizedError(`${base.host} requires ${challenge?.scheme ?? 'unknown'} authentication and no usable credentials were given`)
    }
    // renew a little early so a token does not expire between check and use
    this.cache.set(`${base.href} ${scope}`, { header, expires: Date.now() + Math.max(ttl - 5, 1) * 1000 })
    return header
  }

  private credentials (registry: string): Credentials | undefined {
    const source = this.init.credentials
    return typeof source === 'function' ? source(registry) : source
  }

  private async fetchToken (challenge: Challenge, scope: string, credentials: Credentials | undefined, options: { signal?: AbortSignal }): Promise<{ token: string, ttlSeconds: number }> {
    const realm = challenge.params.realm
    if (realm === undefined || realm === '') {
      throw new UnauthorizedError('bearer challenge without a realm')
    }
    const url = new URL(realm)
    // credentials go to the token service, so it must be as protected as the registry
    assertSecure(url, this.init.allowInsecure)
    if (challenge.params.service !== undefined) {
      url.searchParams.set('service', challenge.params.service)
    }
    const wanted = challenge.params.scope ?? scope
    if (wanted !== '') {
      url.searchParams.set('scope', wanted)
    }
    const headers: Record<string, string> = credentials === undefined ? {} : { authorization: basicHeader(credentials) }
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.timeoutMs), ...(options.signal === undefined ? [] : [options.signal])])
    const res = await fetch(url, { headers, signal })
    if (!res.ok) {
      throw new UnauthorizedError(`token service ${url.host} answered ${res.status} for scope "${url.searchParams.get('scope')}"`)
    }
    const body = await res.json() as { token?: string, access_token?: string, expires_in?: number }
    const token = body.token ?? body.access_token
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(`token service ${url.host} returned no token`)
    }
    return { token, ttlSeconds: typeof body.expires_in === 'number' ? body.expires_in : DEFAULT_TOKEN_TTL_SECONDS }
  }
}

function basicHeader (credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
}
