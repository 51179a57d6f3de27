import { isIP } from 'node:net'
import { DEFAULT_REGISTRY, DOCKER_HUB_API } from '../constants.js'
import { InsecureRegistryError } from '../errors.js'

export interface EndpointOptions {
  /** Send every request here (a mirror or a test registry), whatever the reference's registry. */
  upstream?: string
  /** Permit plain HTTP to hosts other than loopback. */
  allowInsecure?: boolean
}

/** localhost, 127.0.0.0/8 and ::1: where plain HTTP cannot be sniffed off the wire. */
export function isLoopbackHost (hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host === '::1') {
    return true
  }
  return isIP(host) === 4 && host.startsWith('127.')
}

/** Refuses plain HTTP (and anything not HTTP) unless loopback or explicitly allowed. */
export function assertSecure (url: URL, allowInsecure = false): void {
  if (url.protocol === 'https:') {
    return
  }
  if (url.protocol !== 'http:') {
    throw new InsecureRegistryError(`unsupported protocol "${url.protocol}" in ${url.href}`)
  }
  if (!allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new InsecureRegistryError(`refusing plain HTTP to ${url.host}: only loopback hosts may use http:// unless allowInsecure is set`)
  }
}

/**
 * The API base for a registry: the configured upstream, Docker Hub's API host for docker.io,
 * http:// for loopback registries (as Docker treats 127.0.0.0/8 as insecure by default), else https://.
 */
export function registryBaseUrl (registry: string, options: EndpointOptions = {}): URL {
  let base: URL
  if (options.upstream !== undefined) {
    base = new URL(options.upstream)
  } else if (registry === DEFAULT_REGISTRY) {
    base = new URL(DOCKER_HUB_API)
  } else {
    const host = registry.replace(/:\d+$/, '')
    base = new URL(`${isLoopbackHost(host) ? 'http' : 'https'}://${registry}`)
  }
  assertSecure(base, options.allowInsecure)
  base.pathname = base.pathname.replace(/\/+$/, '')
  return base
}
