import type { ReactNode } from 'react'
import type { ImportJob } from '../api/types'
import { formatAgo, formatProgress, shortHash } from '../lib/format'
import { ProgressBar } from './progress'
import { StateBadge } from './cell-view'

/** Import jobs, newest first, with their progress */
export function JobList ({ jobs }: { jobs: ImportJob[] }): ReactNode {
  if (jobs.length === 0) return <p className="muted empty">No imports on this node since it started.</p>
  return (
    <ul className="jobs">
      {jobs.map(j => (
        <li key={j.id} className="job" data-state={j.state}>
          <div className="job-head">
            <code>{j.image}</code> <StateBadge state={j.state} />
            <span className="muted small">started {formatAgo(j.createdAt)}</span>
          </div>
          {j.state === 'running' && <ProgressBar done={j.bytesDone} total={j.bytesTotal} label={`import of ${j.image}`} />}
          <div className="small">
            {j.state === 'running' && (formatProgress(j.bytesDone, j.bytesTotal) || 'starting')}
            {j.state === 'done' && <>CID <code title={j.cid}>{shortHash(j.cid, 8)}</code>{j.platforms != null && ` · ${j.platforms.join(', ')}`}</>}
            {j.state === 'failed' && <span className="error-text">{j.error ?? 'failed'}</span>}
          </div>
        </li>
      ))}
    </ul>
  )
}
