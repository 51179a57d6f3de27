import type { ReactNode } from 'react'
import type { Peer } from '../api/types'
import { formatAgo, formatLatency } from '../lib/format'
import { PeerId } from './peer-id'

export function PeerTable ({ peers, held }: { peers: Peer[], held: (peerId: string) => string[] }): ReactNode {
  const selfId = peers.find(p => p.self)?.id
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr><th>Peer ID</th><th>Addresses</th><th>Connected</th><th className="num">Latency</th><th>Last seen</th><th>Docker</th><th>Images held</th></tr>
        </thead>
        <tbody>
          {peers.map(p => {
            const images = held(p.id)
            return (
              <tr key={p.id} data-peer={p.id}>
                <td><PeerId id={p.id} selfId={selfId} />{p.announcement != null && <div className="small muted">v{p.announcement.version}</div>}</td>
                <td><ul className="plain-list addrs">{p.addrs.map(a => <li key={a}><code>{a}</code></li>)}</ul>{p.addrs.length === 0 && <span className="muted">—</span>}</td>
                <td>{p.self ? <span className="dot on">self</span> : <span className={`dot ${p.connected ? 'on' : 'off'}`}>{p.connected ? 'yes' : 'no'}</span>}</td>
                <td className="num">{p.self ? '—' : formatLatency(p.latencyMs)}</td>
                <td>{p.self ? '—' : formatAgo(p.lastSeen)}</td>
                <td>{p.announcement == null ? <span className="muted">unknown</span> : p.announcement.docker ? 'yes' : 'no'}</td>
                <td>{images.length === 0 ? <span className="muted">none</span> : <ul className="plain-list">{images.map(i => <li key={i}><code>{i}</code></li>)}</ul>}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
