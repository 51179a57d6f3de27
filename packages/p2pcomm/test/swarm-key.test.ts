import { describe, expect, it } from 'vitest'
import { generateSwarmKey, parseSwarmKey } from '../src/swarm-key.js'

const HEX = 'a'.repeat(32) + '0123456789abcdef0123456789ABCDEF'

describe('swarm key', () => {
  it('parses the Kubo format', () => {
    const key = parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`)
    expect(new TextDecoder().decode(key.file)).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.toLowerCase()}\n`)
    expect(key.fingerprint).toMatch(/^psk:[0-9a-f]{8}$/)
  })

  it('accepts CRLF line ends and a missing final newline', () => {
    const a = parseSwarmKey(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX}\r\n`)
    const b = parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`)
    expect(a.file).toEqual(b.file)
  })

  it('rejects a wrong header', () => {
    expect(() => parseSwarmKey(`/key/swarm/psk/2.0.0/\n/base16/\n${HEX}\n`)).toThrow(/first line must be \/key\/swarm\/psk\/1.0.0\//)
  })

  it('rejects other encodings', () => {
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base64/\n${HEX}\n`)).toThrow(/only base16/)
  })

  it('rejects a key of the wrong length or alphabet', () => {
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(2)}\n`)).toThrow(/64 hex characters, got 62/)
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${'z'.repeat(64)}\n`)).toThrow(/hexadecimal/)
    expect(() => parseSwarmKey('')).toThrow(/first line/)
  })

  it('generates keys that parse and differ', () => {
    const a = generateSwarmKey()
    expect(() => parseSwarmKey(a)).not.toThrow()
    expect(a).not.toBe(generateSwarmKey())
    // the fingerprint never shows key bytes
    const hex = a.split('\n')[2] ?? ''
    expect(hex).not.toContain(parseSwarmKey(a).fingerprint.slice(4))
  })
})
