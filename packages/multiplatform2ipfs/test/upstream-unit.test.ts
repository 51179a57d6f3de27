import { describe, expect, it } from 'vitest'
import { InsecureRegistryError } from '../src/errors.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { isLoopbackHost, registryBaseUrl } from '../src/upstream/endpoint.js'
import { parseChallenge } from '../src/upstream/www-authenticate.js'

describe('parseChallenge', () => {
  it('parses Docker Hub\'s bearer challenge, commas inside quotes included', () => {
    const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"'
    expect(parseChallenge(header)).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' }
    })
  })

  it('parses basic, unquoted values and escapes', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } })
    expect(parseChallenge('Bearer realm=http://x/t, service=s')).toEqual({ scheme: 'bearer', params: { realm: 'http://x/t', service: 's' } })
    expect(parseChallenge('Bearer realm="a\\"b"')?.params.realm).toBe('a"b')
    expect(parseChallenge(null)).toBeUndefined()
    expect(parseChallenge('')).toBeUndefined()
  })
})

describe('registryBaseUrl', () => {
  it('maps docker.io to registry-1.docker.io', () => {
    expect(registryBaseUrl('docker.io').href).toBe('https://registry-1.docker.io/')
  })

  it('uses https for remote registries and http for loopback ones', () => {
    expect(registryBaseUrl('ghcr.io').href).toBe('https://ghcr.io/')
    expect(registryBaseUrl('127.0.0.1:5001').href).toBe('http://127.0.0.1:5001/')
    expect(registryBaseUrl('localhost:5000').href).toBe('http://localhost:5000/')
    expect(registryBaseUrl('[::1]:5000').href).toBe('http://[::1]:5000/')
  })

  it('sends everything to a configured upstream', () => {
    expect(registryBaseUrl('ghcr.io', { upstream: 'http://127.0.0.1:5001' }).href).toBe('http://127.0.0.1:5001/')
    expect(registryBaseUrl('docker.io', { upstream: 'https://mirror.example.com/' }).host).toBe('mirror.example.com')
  })

  it('refuses plain http to non-loopback hosts unless allowed', () => {
    expect(() => registryBaseUrl('x', { upstream: 'http://mirror.example.com' })).toThrow(InsecureRegistryError)
    expect(() => registryBaseUrl('x', { upstream: 'http://10.0.0.5:5000' })).toThrow(/allowInsecure/)
    expect(() => registryBaseUrl('x', { upstream: 'ftp://127.0.0.1' })).toThrow(InsecureRegistryError)
    expect(registryBaseUrl('x', { upstream: 'http://10.0.0.5:5000', allowInsecure: true }).href).toBe('http://10.0.0.5:5000/')
    expect(() => createRegistryClient({ upstream: 'http://mirror.example.com' })).toThrow(InsecureRegistryError)
  })

  it('knows loopback hosts', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'].every(isLoopbackHost)).toBe(true)
    expect(['10.0.0.1', '128.0.0.1', 'localhost.example.com', '::2', '127.0.0.1.nip.io'].some(isLoopbackHost)).toBe(false)
  })
})
