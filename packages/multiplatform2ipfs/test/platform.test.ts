import { describe, expect, it } from 'vitest'
import { InvalidPlatformError } from '../src/errors.js'
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches } from '../src/platform.js'

describe('platform', () => {
  it('parses and formats os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' })
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' })
    expect(formatPlatform(parsePlatform('linux/arm/v7'))).toBe('linux/arm/v7')
    expect(formatPlatform({ os: 'linux', architecture: 'amd64', variant: '' })).toBe('linux/amd64')
  })

  it.each(['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/am d64', ''])('rejects %j', (input) => {
    expect(() => parsePlatform(input)).toThrow(InvalidPlatformError)
  })

  it('normalises aliases and default variants', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64' })).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' })
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v1' })
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' })
    expect(normalizePlatform({ os: 'linux', architecture: 'arm', variant: '6' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' })
  })

  it.each([
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }, true],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'arm64' }, false],
    ['linux/amd64', { os: 'windows', architecture: 'amd64' }, false],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v6' }, true],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v6' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm' }, true],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }, true]
  ])('%s matches %j: %s', (wanted, candidate, expected) => {
    expect(platformMatches(parsePlatform(wanted), candidate)).toBe(expected)
  })
})
