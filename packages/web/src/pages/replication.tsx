import type { ReactNode } from 'react'
import { usePeers, useReplication } from '../api/hooks'
import { LoadState } from '../components/load-state'
import { MatrixTable } from '../components/matrix-table'
import { StateBadge } from '../components/cell-view'
import { buildMatrix } from '../lib/matrix'
import { CELL_STATES } from '../api/types'

export function ReplicationPage (): ReactNode {
  const replication = useReplication()
  const peers = usePeers()
  const selfId = peers.data?.find(p => p.self)?.id
  const matrix = replication.data != null ? buildMatrix(replication.data, selfId) : undefined
  return (
    <>
      <h1>Replication</h1>
      <p className="lead muted">Each peer's state for each image, as the peer reports it. Updates live.</p>
      <LoadState loading={replication.loading} error={replication.error} />
      {matrix != null && (
        <>
          <p className="legend" aria-label="Totals">
            {CELL_STATES.map(s => <span key={s}><StateBadge state={s} /> {matrix.counts[s]}</span>)}
          </p>
          <MatrixTable matrix={matrix} selfId={selfId} />
        </>
      )}
    </>
  )
}
