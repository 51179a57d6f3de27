import type { ReactNode } from 'react'
import type { ReplicationCell } from '../api/types'
import { formatAgo, formatProgress } from '../lib/format'
import { ProgressBar } from './progress'

export function StateBadge ({ state }: { state: string }): ReactNode {
  return <span className={`badge s-${state}`}>{state}</span>
}

/** One peer × image cell of the replication matrix */
export function CellView ({ cell }: { cell: ReplicationCell }): ReactNode {
  return (
    <div className="cell" data-state={cell.state}>
      <StateBadge state={cell.state} />
      {cell.state === 'fetching' && (
        <>
          <ProgressBar done={cell.bytesDone} total={cell.bytesTotal} label={`${cell.image} on ${cell.peerId}`} />
          <span className="small">{formatProgress(cell.bytesDone, cell.bytesTotal) || 'starting'}</span>
        </>
      )}
      {cell.state === 'pinned' && !cell.docker && <span className="small muted">no Docker: pinned only</span>}
      {cell.error != null && cell.error !== '' && (
        <span className="small error-text" title={cell.error}>{cell.error}</span>
      )}
      {cell.retryAt != null && cell.state === 'failed' && <span className="small muted">retry {formatAgo(cell.retryAt)}</span>}
    </div>
  )
}
