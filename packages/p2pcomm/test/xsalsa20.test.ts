import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import xsalsa20, { implementation, xsalsa20Js } from 'xsalsa20'

// The stream cipher @libp2p/pnet uses, resolved to our shim (root package.json overrides).
// Golden value: sha256 of the original xsalsa20 1.2.0 (WebAssembly) output for this key, nonce and data.
const GOLDEN = 'ffd72c63029591b2fba0430e3841a31c44fc9ccb0ff5a61977843a16f1ee9dbb'
const key = Uint8Array.from({ length: 32 }, (_, i) => i)
const nonce = Uint8Array.from({ length: 24 }, (_, i) => 100 + i)
const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff)
const sha256 = (chunks: Uint8Array[]): string => { const h = createHash('sha256'); for (const c of chunks) h.update(c); return h.digest('hex') }

describe('xsalsa20 shim used by the private network', () => {
  it('is the package @libp2p/pnet resolves', async () => {
    const { createRequire } = await import('node:module')
    const resolved = createRequire(import.meta.resolve('@libp2p/pnet')).resolve('xsalsa20')
    expect(resolved).toMatch(/packages\/p2pcomm\/shims\/xsalsa20\/index\.js$/)
  })

  it('runs on libsodium here (the addon ships prebuilt for linux-x64 in the npm package)', () => {
    expect(process.platform === 'linux' && process.arch === 'x64' ? implementation : 'libsodium').toBe('libsodium')
  })

  it.each([['native', xsalsa20], ['pure JS', xsalsa20Js]])('%s: matches the original cipher byte for byte, however the stream is chunked', (_, make) => {
    expect(sha256([make(nonce, key).update(data)])).toBe(GOLDEN)
    for (let trial = 0; trial < 10; trial++) {
      const cipher = make(nonce, key)
      const out: Uint8Array[] = []
      for (let pos = 0; pos < data.length;) {
        const n = Math.min(data.length - pos, 1 + Math.floor(Math.random() * 3000))
        out.push(cipher.update(data.subarray(pos, pos + n)))
        pos += n
      }
      expect(sha256(out)).toBe(GOLDEN)
    }
  })

  it.each([['native', xsalsa20], ['pure JS', xsalsa20Js]])('%s: encrypts in place when given its input as the output (the patched pnet does)', (_, make) => {
    const cipher = make(nonce, key)
    const out: Uint8Array[] = []
    for (let pos = 0; pos < data.length;) {
      const n = Math.min(data.length - pos, 1 + Math.floor(Math.random() * 3000))
      const chunk = data.slice(pos, pos + n)
      expect(cipher.update(chunk, chunk)).toBe(chunk)
      out.push(chunk)
      pos += n
    }
    expect(sha256(out)).toBe(GOLDEN)
  })

  it('takes a 100 MiB read in one call (the original threw past 64 MiB of WebAssembly memory)', () => {
    const big = new Uint8Array(100 * 1024 * 1024)
    expect(xsalsa20(nonce, key).update(big).length).toBe(big.length)
  })
})
