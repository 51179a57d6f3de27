import type { ReactNode } from 'react'
import { useHealth, useIdentity, useImages, usePeers, useReplication, useStrategies } from '../api/hooks'
import { StateBadge } from '../components/cell-view'
import { DiskUsageView } from '../components/disk-usage'
import { LoadState } from '../components/load-state'
import { Stat } from '../components/stat'
import { summaryByImage } from '../lib/matrix'
import { CELL_STATES } from '../api/types'

export function OverviewPage (): ReactNode {
  const identity = useIdentity()
  const health = useHealth()
  const peers = usePeers()
  const images = useImages()
  const strategies = useStrategies()
  const replication = useReplication()
  const id = identity.data
  const h = health.data
  const disk = h?.disk
  const others = peers.data?.filter(p => !p.self) ?? []
  const summary = summaryByImage(replication.data?.cells ?? [])
  return (
    <>
      <h1>Overview</h1>
      <section className="stats" aria-label="Counts">
        <Stat label={`peers (${others.filter(p => p.connected).length} connected)`} value={peers.data != null ? others.length : '…'} to="/peers" />
        <Stat label="images" value={images.data?.length ?? '…'} to="/images" />
        <Stat label="strategies" value={strategies.data?.length ?? '…'} to="/strategies" />
        <Stat label="health" value={<span className={h?.status === 'ok' ? 'ok-text' : 'error-text'}>{h?.status ?? '…'}</span>} />
      </section>
      <div className="grid-2">
        <section className="card" aria-labelledby="this-node">
          <h2 id="this-node">This node</h2>
          <LoadState loading={identity.loading} error={identity.error} />
          {id != null && (
            <dl className="kv">
              <dt>Peer ID</dt><dd><code className="break">{id.peerId}</code></dd>
              <dt>Version</dt><dd>{id.version}</dd>
              <dt>Private network</dt><dd>{id.privateNetwork ? <span className="ok-text">on (swarm key)</span> : <span className="warn-text">off — public libp2p</span>}</dd>
              <dt>Content</dt>
              <dd>{id.content == null ? '…' : id.content.kind === 'kubo' ? <>Kubo at <code>{id.content.url}</code></> : 'embedded (Helia)'}</dd>
              <dt>Write authorization</dt>
              <dd>{id.writeAuthorization?.enabled === true
                ? <span className="ok-text">{id.writeAuthorization.summary}</span>
                : <span className="warn-text">off — every holder of the swarm key may change what hosts pull</span>}</dd>
              <dt>Addresses</dt><dd><ul className="plain-list addrs">{id.addrs.map(a => <li key={a}><code>{a}</code></li>)}</ul></dd>
            </dl>
          )}
        </section>
        <section className="card" aria-labelledby="health">
          <h2 id="health">Health</h2>
          <LoadState loading={health.loading} error={health.error} />
          {h != null && h.store != null && (
            <dl className="kv">
              <dt>Status</dt><dd className={h.status === 'ok' ? 'ok-text' : 'error-text'}>{h.status}</dd>
              <dt>Live peers</dt><dd>{h.peers}</dd>
              <dt>Connections</dt><dd>{h.connections}</dd>
              <dt>Store keys</dt><dd>{h.store.keys}</dd>
              <dt>Remote updates</dt><dd>{h.store.remoteUpdates}</dd>
              {disk != null && <><dt>Disk</dt><dd><DiskUsageView disk={disk} /></dd></>}
              <dt>Dropped records</dt><dd>{h.store.droppedMessages}{h.store.droppedMessages > 0 && h.store.dropped != null && <> ({dropSummary(h.store.dropped)})</>}; {h.droppedAnnouncements} announcements</dd>
            </dl>
          )}
        </section>
      </div>
      <section className="card" aria-labelledby="repl-summary">
        <h2 id="repl-summary">Replication</h2>
        {summary.length === 0
          ? <p className="muted">No image is placed on any peer yet.</p>
          : (
            <table className="table compact">
              <thead><tr><th>Image</th>{CELL_STATES.map(s => <th key={s} className="num"><StateBadge state={s} /></th>)}</tr></thead>
              <tbody>
                {summary.map(row => (
                  <tr key={row.image}><td><code>{row.image}</code></td>{CELL_STATES.map(s => <td key={s} className="num">{row.counts[s] || <span className="muted">0</span>}</td>)}</tr>
                ))}
              </tbody>
            </table>
            )}
      </section>
    </>
  )
}

/** Only the reasons that happened, e.g. "3 unauthorized, 1 bad-signature" */
function dropSummary (dropped: Record<string, number>): string {
  return Object.entries(dropped).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`).join(', ')
}
