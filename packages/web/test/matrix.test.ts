import { describe, expect, it } from 'vitest'
import { buildMatrix, heldBy, holders, summaryByImage } from '../src/lib/matrix'
import { B, C, SELF, cell, replication } from './fixtures'

describe('replication matrix', () => {
  it('puts this node first and every cell at its peer × image', () => {
    const m = buildMatrix(replication, SELF)
    expect(m.peers).toEqual([SELF, B, C])
    expect(m.images).toEqual(['busybox:1.36', 'nginx:1.27'])
    expect(m.rows[0]?.map(c => c?.state)).toEqual(['loaded', undefined])
    expect(m.rows[1]?.map(c => c?.state)).toEqual(['fetching', undefined])
    expect(m.rows[2]?.map(c => c?.state)).toEqual(['failed', 'pinned'])
    expect(m.counts).toEqual({ pending: 0, fetching: 1, pinned: 1, loaded: 1, failed: 1, removing: 0 })
  })

  it('includes peers and images that only appear in cells', () => {
    const m = buildMatrix({ peers: [], images: [], cells: [cell(B, 'x:1', 'pending')] })
    expect(m.peers).toEqual([B])
    expect(m.images).toEqual(['x:1'])
  })

  it('tells who holds an image and what a peer holds (pinned or loaded only)', () => {
    expect(holders(replication.cells, 'busybox:1.36')).toEqual([SELF])
    expect(holders(replication.cells, 'nginx:1.27')).toEqual([C])
    expect(heldBy(replication.cells, C)).toEqual(['nginx:1.27'])
    expect(heldBy(replication.cells, B)).toEqual([])
  })

  it('summarises states per image', () => {
    const s = summaryByImage(replication.cells)
    expect(s.map(r => [r.image, r.total, r.counts.loaded, r.counts.failed])).toEqual([['busybox:1.36', 3, 1, 1], ['nginx:1.27', 1, 0, 0]])
  })
})
