// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, render, screen } from '@testing-library/react'
import { DiskUsageView } from '../src/components/disk-usage'

afterEach(cleanup)

const GiB = 1024 ** 3

describe('disk usage', () => {
  it('shows use against --max-disk, and a full disk with its reason', () => {
    const { rerender } = render(<DiskUsageView disk={{ usedBytes: 5 * GiB, limitBytes: 20 * GiB, freeBytes: 100 * GiB, full: false, evictions: 2, reclaimedBytes: 0 }} />)
    expect(screen.getByTestId('disk-usage').textContent).toBe('5.0 GB of 20 GB (25 %); 2 cached images evicted')
    expect(screen.getByTestId('disk-usage').className).toBe('')
    rerender(<DiskUsageView disk={{ usedBytes: 20 * GiB, limitBytes: 20 * GiB, freeBytes: 100 * GiB, full: true, reason: '--max-disk 20.0 GiB reached (20.0 GiB used)', evictions: 0, reclaimedBytes: 0 }} />)
    expect(screen.getByTestId('disk-usage').textContent).toBe('20 GB of 20 GB (100 %) — full: --max-disk 20.0 GiB reached (20.0 GiB used)')
    expect(screen.getByTestId('disk-usage').className).toBe('error-text')
  })

  it('without a limit shows use and what the file system has free', () => {
    render(<DiskUsageView disk={{ usedBytes: 1536, freeBytes: 50 * GiB, full: false, evictions: 0, reclaimedBytes: 0 }} />)
    expect(screen.getByTestId('disk-usage').textContent).toBe('1.5 KB (no limit), 50 GB free')
  })
})
