import { CustomProgressEvent, type ProgressEvent } from 'progress-events'
import { describe, expect, it } from 'vitest'
import { JobRegistry } from '../src/join.js'
import { forEachLimit } from '../src/pool.js'

type E = ProgressEvent<'tick', number>

describe('JobRegistry', () => {
  it('runs one job per key and fans progress out to every caller', async () => {
    const jobs = new JobRegistry<string, E>()
    let runs = 0
    let release = (): void => {}
    const start = async (_signal: AbortSignal, onProgress: (e: E) => void): Promise<string> => {
      runs++
      await new Promise<void>(resolve => { release = resolve })
      onProgress(new CustomProgressEvent('tick', 1))
      return 'done'
    }
    const seen: string[] = []
    const a = jobs.run('k', start, { onProgress: () => seen.push('a') })
    const b = jobs.run('k', start, { onProgress: () => seen.push('b') })
    expect(jobs.size).toBe(1)
    release()
    expect(await Promise.all([a, b])).toEqual(['done', 'done'])
    expect(runs).toBe(1)
    expect(seen.sort()).toEqual(['a', 'b'])
    await new Promise(resolve => setTimeout(resolve, 0))
    expect(jobs.size).toBe(0)
  })

  it('aborts the job only when every caller has aborted', async () => {
    const jobs = new JobRegistry<string, E>()
    let jobSignal: AbortSignal | undefined
    const start = async (signal: AbortSignal): Promise<string> => {
      jobSignal = signal
      return new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })
    }
    const one = new AbortController()
    const two = new AbortController()
    const a = jobs.run('k', start, { signal: one.signal })
    const b = jobs.run('k', start, { signal: two.signal })
    one.abort(new Error('one'))
    await expect(a).rejects.toThrow('one')
    expect(jobSignal?.aborted).toBe(false)
    two.abort(new Error('two'))
    await expect(b).rejects.toThrow('two')
    expect(jobSignal?.aborted).toBe(true)
  })
})

describe('forEachLimit', () => {
  it('never exceeds the limit and visits every item', async () => {
    let active = 0
    let peak = 0
    const seen: number[] = []
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++
      peak = Math.max(peak, active)
      await new Promise(resolve => setTimeout(resolve, 5))
      seen.push(n)
      active--
    })
    expect(peak).toBe(3)
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7])
  })

  it('aborts siblings on the first failure and rejects after all settled', async () => {
    let settled = 0
    const run = forEachLimit([1, 2, 3, 4], 2, async (n, signal) => {
      try {
        if (n === 1) throw new Error('boom')
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, 1000)
          signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) })
        })
      } finally {
        settled++
      }
    })
    await expect(run).rejects.toThrow('boom')
    expect(settled).toBe(2)
  })
})
