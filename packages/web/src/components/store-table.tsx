import type { ReactNode } from 'react'
import type { StoreEntry } from '../api/types'
import { formatValue } from '../lib/format'

export function StoreTable ({ entries }: { entries: StoreEntry[] }): ReactNode {
  if (entries.length === 0) return <p className="muted empty">No keys match.</p>
  return (
    <div className="table-wrap">
      <table className="table store">
        <thead><tr><th>Key</th><th>Value</th></tr></thead>
        <tbody>
          {entries.map(e => (
            <tr key={e.key}>
              <td><code className="key">{e.key}</code></td>
              <td><pre className="value">{formatValue(e.value, 2)}</pre></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
