import { describe, expect, it } from 'vitest'
import { formatAgo, formatBytes, formatLatency, formatProgress, formatValue, percent, shortHash, shortId } from '../src/lib/format'
import { filterEntries } from '../src/lib/filter'

describe('format helpers', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB')
    expect(formatBytes(700 * 1024 * 1024)).toBe('700 MB')
    expect(formatBytes(undefined)).toBe('—')
    expect(formatBytes(-1)).toBe('—')
  })

  it('shortens peer IDs and hashes, keeping prefixes', () => {
    expect(shortId('12D3KooWAbcdefghijklmnopqrstuvwxyz123456')).toBe('12D3KooWAbcd…123456')
    expect(shortId('short')).toBe('short')
    expect(shortHash('sha256:' + 'a'.repeat(64), 8)).toBe('sha256:aaaaaaaa…aaaaaa')
    expect(shortHash(undefined)).toBe('—')
  })

  it('says how long ago', () => {
    const now = Date.parse('2025-01-01T01:00:00Z')
    expect(formatAgo('2025-01-01T01:00:00Z', now)).toBe('just now')
    expect(formatAgo('2025-01-01T00:59:30Z', now)).toBe('30 s ago')
    expect(formatAgo('2025-01-01T00:55:00Z', now)).toBe('5 min ago')
    expect(formatAgo('2024-12-31T22:00:00Z', now)).toBe('3 h ago')
    expect(formatAgo('2025-01-01T01:00:20Z', now)).toBe('in 20 s')
    expect(formatAgo(undefined, now)).toBe('—')
    expect(formatAgo('not a date', now)).toBe('—')
  })

  it('computes progress', () => {
    expect(percent(50, 200)).toBe(25)
    expect(percent(300, 200)).toBe(100)
    expect(percent(5, 0)).toBeUndefined()
    expect(formatProgress(1024, 4096)).toBe('1.0 KB / 4.0 KB (25 %)')
    expect(formatProgress(2048, undefined)).toBe('2.0 KB')
    expect(formatProgress(undefined, undefined)).toBe('')
    expect(formatLatency(1.234)).toBe('1.2 ms')
    expect(formatLatency(42.6)).toBe('43 ms')
  })

  it('prints store values and filters entries by key and value', () => {
    expect(formatValue('bafy')).toBe('bafy')
    expect(formatValue({ a: 1 })).toBe('{"a":1}')
    const entries = [{ key: 'strategy/x', value: { nametag: 'busybox:1.36' } }, { key: 'image/nginx:1', value: 'bafy' }]
    expect(filterEntries(entries, '')).toHaveLength(2)
    expect(filterEntries(entries, 'BUSYBOX')).toEqual([entries[0]])
    expect(filterEntries(entries, 'image/ bafy')).toEqual([entries[1]])
    expect(filterEntries(entries, 'nothing')).toEqual([])
  })
})
