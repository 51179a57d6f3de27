import { useState, type ReactNode } from 'react'
import type { Strategy } from '../api/types'
import { PeerId } from './peer-id'
import { StateBadge } from './cell-view'

export interface StrategyTableProps {
  strategies: Strategy[]
  selfId?: string | undefined
  onToggle: (s: Strategy, execute: boolean) => void
  onDelete: (s: Strategy) => void
  busyKey?: string | undefined
}

export function StrategyTable ({ strategies, selfId, onToggle, onDelete, busyKey }: StrategyTableProps): ReactNode {
  const [confirming, setConfirming] = useState<string>()
  if (strategies.length === 0) return <p className="muted empty">No strategies yet. Create one below.</p>
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr><th>Type</th><th>Image</th><th>Percentage / target</th><th>Execute</th><th>Selected peers</th><th className="num">Loaded / wanted</th><th><span className="sr-only">Actions</span></th></tr>
        </thead>
        <tbody>
          {strategies.map(s => (
            <tr key={s.key} data-key={s.key}>
              <td>{s.type}</td>
              <td>
                <code>{s.nametag}</code>
                {s.image.state !== 'ready' && <> <StateBadge state={s.image.state} /></>}
                {s.image.error != null && <div className="small error-text">{s.image.error}</div>}
              </td>
              <td>{s.type === 'percentage' ? `${s.percentage ?? '?'} %` : s.target != null ? <PeerId id={s.target} selfId={selfId} /> : '—'}</td>
              <td>
                <label className="switch">
                  <input type="checkbox" checked={s.execute} disabled={busyKey === s.key} onChange={e => { onToggle(s, e.target.checked) }} />
                  <span>{s.execute ? 'on' : 'off'}</span>
                  <span className="sr-only"> execute {s.nametag}</span>
                </label>
              </td>
              <td>
                {s.selected.length === 0
                  ? <span className="muted">none</span>
                  : <ul className="plain-list">{s.selected.map(id => <li key={id}><PeerId id={id} selfId={selfId} /></li>)}</ul>}
              </td>
              <td className="num" data-testid="replicas">
                {s.status.loaded} / {s.status.wanted}
                {s.status.failed > 0 && <div className="small error-text">{s.status.failed} failed</div>}
                {s.status.fetching > 0 && <div className="small muted">{s.status.fetching} fetching</div>}
              </td>
              <td className="actions-cell">
                {confirming === s.key
                  ? (
                    <span className="confirm" role="group" aria-label={`Confirm deleting ${s.nametag}`}>
                      <span>Delete? Peers release the image.</span>
                      <button type="button" className="danger" autoFocus disabled={busyKey === s.key} onClick={() => { onDelete(s); setConfirming(undefined) }}>Yes, delete</button>
                      <button type="button" onClick={() => { setConfirming(undefined) }}>Cancel</button>
                    </span>
                    )
                  : <button type="button" onClick={() => { setConfirming(s.key) }} aria-label={`Delete strategy ${s.key}`}>Delete</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
