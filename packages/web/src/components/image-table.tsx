import type { ReactNode } from 'react'
import type { ImageRecord } from '../api/types'
import { formatBytes, formatAgo, shortHash } from '../lib/format'
import { CopyButton } from './copy-button'
import { PeerId } from './peer-id'

export function ImageTable ({ images, holders, selfId }: { images: ImageRecord[], holders: (image: string) => string[], selfId?: string | undefined }): ReactNode {
  if (images.length === 0) return <p className="muted empty">No images in the mesh yet. Import one below, or create a strategy.</p>
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr><th>Image</th><th>CID</th><th>Digest</th><th>Platforms</th><th className="num">Size</th><th>Held by</th><th>Imported</th></tr>
        </thead>
        <tbody>
          {images.map(img => {
            const ref = `${img.name}:${img.tag}`
            const held = holders(ref)
            return (
              <tr key={ref} data-image={ref}>
                <td><code>{ref}</code></td>
                <td className="nowrap"><code title={img.cid}>{shortHash(img.cid, 8)}</code> <CopyButton text={img.cid} label={`Copy the CID of ${ref}`} /></td>
                <td><code title={img.digest}>{shortHash(img.digest, 8)}</code></td>
                <td>{img.platforms.length === 0 ? '—' : <ul className="plain-list">{img.platforms.map(p => <li key={p}>{p}</li>)}</ul>}</td>
                <td className="num">{formatBytes(img.size)}</td>
                <td>{held.length === 0 ? <span className="muted">no replicas</span> : <ul className="plain-list">{held.map(id => <li key={id}><PeerId id={id} selfId={selfId} /></li>)}</ul>}</td>
                <td className="small"><PeerId id={img.importedBy} selfId={selfId} /><div className="muted">{formatAgo(img.at)}</div></td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
