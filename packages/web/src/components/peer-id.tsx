import type { ReactNode } from 'react'
import { shortId } from '../lib/format'

export function PeerId ({ id, selfId }: { id: string, selfId?: string | undefined }): ReactNode {
  return (
    <span className="peer-id">
      <code title={id}>{shortId(id)}</code>
      {id === selfId && <span className="tag">this node</span>}
    </span>
  )
}
