import type { ReactNode } from 'react'
import type { Matrix } from '../lib/matrix'
import { CellView } from './cell-view'
import { PeerId } from './peer-id'

/** Peers (rows) × images (columns); each cell is that peer's state for that image */
export function MatrixTable ({ matrix, selfId }: { matrix: Matrix, selfId?: string | undefined }): ReactNode {
  if (matrix.images.length === 0) return <p className="muted empty">No replication yet: create a strategy to place an image on peers.</p>
  return (
    <div className="table-wrap">
      <table className="table matrix">
        <thead>
          <tr>
            <th scope="col">Peer</th>
            {matrix.images.map(i => <th scope="col" key={i}><code>{i}</code></th>)}
          </tr>
        </thead>
        <tbody>
          {matrix.peers.map((peer, r) => (
            <tr key={peer}>
              <th scope="row"><PeerId id={peer} selfId={selfId} /></th>
              {matrix.images.map((image, c) => {
                const cell = matrix.rows[r]?.[c]
                return (
                  <td key={image} data-peer={peer} data-image={image} data-state={cell?.state ?? 'none'}>
                    {cell != null ? <CellView cell={cell} /> : <span className="muted">—</span>}
                  </td>
                )
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
