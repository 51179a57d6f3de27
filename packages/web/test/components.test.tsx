// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react'
import { ConnectionBanner } from '../src/components/connection-banner'
import { MatrixTable } from '../src/components/matrix-table'
import { PeerTable } from '../src/components/peer-table'
import { StrategyTable } from '../src/components/strategy-table'
import { buildMatrix, heldBy } from '../src/lib/matrix'
import { B, C, SELF, peers, replication, strategy } from './fixtures'

afterEach(cleanup)

describe('replication matrix table', () => {
  it('shows each cell\'s state, progress with bytes, and errors', () => {
    const { container } = render(<MatrixTable matrix={buildMatrix(replication, SELF)} selfId={SELF} />)
    const at = (peer: string, image: string): HTMLElement => container.querySelector(`td[data-peer="${peer}"][data-image="${image}"]`)!
    expect(at(SELF, 'busybox:1.36').dataset.state).toBe('loaded')
    const fetching = at(B, 'busybox:1.36')
    expect(fetching.dataset.state).toBe('fetching')
    expect(within(fetching).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('25')
    expect(fetching.textContent).toContain('512 KB / 2.0 MB (25 %)')
    expect(at(C, 'busybox:1.36').textContent).toContain('no space left on device')
    expect(at(C, 'nginx:1.27').textContent).toContain('pinned only')
    expect(at(B, 'nginx:1.27').dataset.state).toBe('none')
    expect(screen.getAllByRole('row')[1]?.textContent).toContain('this node')
  })

  it('says so when nothing is replicated', () => {
    render(<MatrixTable matrix={buildMatrix({ peers: [SELF], images: [], cells: [] })} />)
    expect(screen.getByText(/No replication yet/)).toBeTruthy()
  })
})

describe('strategy table', () => {
  it('lists a strategy and deletes only after confirmation', () => {
    const onDelete = vi.fn()
    const onToggle = vi.fn()
    render(<StrategyTable strategies={[strategy]} selfId={SELF} onDelete={onDelete} onToggle={onToggle} />)
    const row = screen.getAllByRole('row')[1]!
    expect(row.textContent).toContain('busybox:1.36')
    expect(row.textContent).toContain('50 %')
    expect(row.textContent).toContain('1 / 2')
    expect(row.textContent).toContain('1 fetching')
    fireEvent.click(within(row).getByRole('checkbox'))
    expect(onToggle).toHaveBeenCalledWith(strategy, false)
    fireEvent.click(within(row).getByRole('button', { name: /Delete strategy/ }))
    fireEvent.click(within(row).getByRole('button', { name: 'Cancel' }))
    expect(onDelete).not.toHaveBeenCalled()
    fireEvent.click(within(row).getByRole('button', { name: /Delete strategy/ }))
    fireEvent.click(within(row).getByRole('button', { name: 'Yes, delete' }))
    expect(onDelete).toHaveBeenCalledWith(strategy)
  })
})

describe('peer table', () => {
  it('shows connection, latency, Docker and images held', () => {
    render(<PeerTable peers={peers} held={id => heldBy(replication.cells, id)} />)
    const rows = screen.getAllByRole('row').slice(1)
    expect(rows[0]?.textContent).toContain('this node')
    expect(rows[1]?.textContent).toContain('1.2 ms')
    expect(rows[1]?.textContent).toMatch(/yes.*yes/)
    expect(rows[2]?.textContent).toContain('unknown')
    expect(rows[2]?.textContent).toContain('nginx:1.27')
  })
})

describe('connection banner', () => {
  it('is hidden while connected and says it retries when the stream dropped', () => {
    const { rerender } = render(<ConnectionBanner status={{ state: 'open' }} />)
    expect(screen.queryByRole('alert')).toBeNull()
    rerender(<ConnectionBanner status={{ state: 'retrying', attempt: 2, retryAt: Date.now() + 4000 }} />)
    expect(screen.getByRole('alert').textContent).toMatch(/Disconnected — retrying\..*next try in 4 s.*attempt 2/)
  })
})
