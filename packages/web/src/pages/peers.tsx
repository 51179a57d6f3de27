import type { ReactNode } from 'react'
import { usePeers, useReplication } from '../api/hooks'
import { LoadState } from '../components/load-state'
import { PeerTable } from '../components/peer-table'
import { heldBy } from '../lib/matrix'

export function PeersPage (): ReactNode {
  const peers = usePeers()
  const replication = useReplication()
  const cells = replication.data?.cells ?? []
  return (
    <>
      <h1>Peers</h1>
      <p className="lead muted">This node first, then every peer it knows of. Latency and last seen refresh every few seconds.</p>
      <LoadState loading={peers.loading} error={peers.error} />
      {peers.data != null && <PeerTable peers={peers.data} held={id => heldBy(cells, id)} />}
    </>
  )
}
