import { describe, expect, it } from 'vitest'
import { rank, replicaCount, selectPeers } from '../src/strategies/selection.js'

const peers = Array.from({ length: 10 }, (_, i) => `12D3KooWpeer${i}`)

describe('replica count', () => {
  it('rounds up and never chooses nobody', () => {
    expect(replicaCount(50, 4)).toBe(2)
    expect(replicaCount(1, 4)).toBe(1)
    expect(replicaCount(10, 3)).toBe(1)
    expect(replicaCount(34, 3)).toBe(2)
    expect(replicaCount(100, 7)).toBe(7)
    expect(replicaCount(50, 0)).toBe(0)
  })
})

describe('selection', () => {
  it('ranks deterministically, independent of input order', () => {
    expect(rank('s', [...peers].reverse())).toEqual(rank('s', peers))
    expect(rank('s', peers)).not.toEqual(rank('other', peers))
  })

  it('spreads different strategies over different peers', () => {
    const firsts = new Set(Array.from({ length: 40 }, (_, i) => rank(`strategy-${i}`, peers)[0]))
    expect(firsts.size).toBeGreaterThan(5)
  })

  it('chooses exactly count live peers', () => {
    const chosen = selectPeers({ strategyKey: 's', count: 3, live: peers, current: [] })
    expect(chosen).toHaveLength(3)
    expect(chosen).toEqual(rank('s', peers).slice(0, 3).sort())
  })

  it('replaces a peer that is no longer live and keeps the others', () => {
    const first = selectPeers({ strategyKey: 's', count: 2, live: peers.slice(0, 4), current: [] })
    const gone = first[0] as string
    const next = selectPeers({ strategyKey: 's', count: 2, live: peers.slice(0, 4).filter(p => p !== gone), current: first })
    expect(next).toHaveLength(2)
    expect(next).toContain(first[1])
    expect(next).not.toContain(gone)
    // the returning peer is not chosen again: the assignment is sticky
    const back = selectPeers({ strategyKey: 's', count: 2, live: peers.slice(0, 4), current: next })
    expect(back).toEqual(next)
  })

  it('grows and shrinks with the count', () => {
    const two = selectPeers({ strategyKey: 's', count: 2, live: peers, current: [] })
    const four = selectPeers({ strategyKey: 's', count: 4, live: peers, current: two })
    expect(four).toEqual(expect.arrayContaining(two))
    const one = selectPeers({ strategyKey: 's', count: 1, live: peers, current: four })
    expect(one).toHaveLength(1)
    expect(four).toContain(one[0])
  })
})
