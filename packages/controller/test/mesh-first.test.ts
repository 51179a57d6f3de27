import { describe, expect, it } from 'vitest'
import { meshFirst, type MeshFirstClock } from '../src/mesh-first.js'

const MiB = 1024 * 1024

/** A clock the test moves: each sleep is recorded and passes at once */
function testClock (): MeshFirstClock & { slept: number[] } {
  let now = 0
  const slept: number[] = []
  return { slept, now: () => now, sleep: async ms => { slept.push(ms); now += ms } }
}

describe('mesh first: the registry paced while peers depend on this node alone', () => {
  it('runs blob reads at the pace while only serving, all streams together', async () => {
    const clock = testClock()
    const pace = meshFirst(() => true, 8 * MiB, clock)
    const signal = new AbortController().signal
    for (let i = 0; i < 32; i++) await pace(256 * 1024, signal)
    // 8 MiB at 8 MiB/s: one second in all
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeCloseTo(1000, 0)
  })

  it('does not slow reads while the node fetches itself or serves nobody, and starts afresh after', async () => {
    const clock = testClock()
    let only = false
    const pace = meshFirst(() => only, 8 * MiB, clock)
    const signal = new AbortController().signal
    for (let i = 0; i < 32; i++) await pace(256 * 1024, signal)
    expect(clock.slept).toEqual([])
    only = true
    await pace(MiB, signal)
    expect(clock.slept).toEqual([125])
  })

  it('stops waiting when the request is aborted', async () => {
    const pace = meshFirst(() => true, 1024)
    const abort = new AbortController()
    const waiting = pace(MiB, abort.signal)
    abort.abort(new Error('client went away'))
    await expect(waiting).rejects.toThrow(/client went away|aborted/)
  })
})
