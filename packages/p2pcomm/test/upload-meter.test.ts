import { describe, expect, it } from 'vitest'
import { UploadMeter } from '../src/blocks/upload-meter.js'

const MiB = 1024 * 1024

/** Sends `bytesPerSecond` for `seconds`, in 10 ms steps of a test clock */
function send (meter: UploadMeter, clock: { t: number }, bytesPerSecond: number, seconds: number): void {
  for (let i = 0; i < seconds * 100; i++) {
    clock.t += 10
    meter.sent(bytesPerSecond / 100)
  }
}

describe('upload meter', () => {
  it('measures the last whole second', () => {
    const clock = { t: 1_000_000 }
    const meter = new UploadMeter(() => clock.t)
    send(meter, clock, 12 * MiB, 2)
    expect(meter.rate()).toBeGreaterThan(11.5 * MiB)
    expect(meter.rate()).toBeLessThan(12.5 * MiB)
    clock.t += 2_000
    expect(meter.rate()).toBe(0)
  })

  it('has upload to spare only well below its best second, and only once it has a measure', () => {
    const clock = { t: 1_000_000 }
    const meter = new UploadMeter(() => clock.t)
    send(meter, clock, 0.5 * MiB, 2)
    expect(meter.hasSpare()).toBe(false) // too little ever sent to tell
    send(meter, clock, 12 * MiB, 3)
    expect(meter.hasSpare()).toBe(false) // full
    send(meter, clock, 10.5 * MiB, 2)
    expect(meter.hasSpare()).toBe(false) // a dip, not room (0.875 of the best)
    send(meter, clock, 6 * MiB, 2)
    expect(meter.hasSpare()).toBe(true) // held back: half its best
  })

  it('forgets a best second after a while, so a link that got slower is measured anew', () => {
    const clock = { t: 1_000_000 }
    const meter = new UploadMeter(() => clock.t)
    send(meter, clock, 12 * MiB, 2)
    send(meter, clock, 6 * MiB, 2)
    expect(meter.hasSpare()).toBe(true)
    send(meter, clock, 6 * MiB, 31)
    expect(meter.hasSpare()).toBe(false)
  })

  it('measures a burst sent within one bucket, however long the silence after it', () => {
    const clock = { t: 1_000_000 }
    const meter = new UploadMeter(() => clock.t)
    meter.sent(4 * MiB)
    clock.t += 1_200
    expect(meter.hasSpare()).toBe(true)
  })
})
