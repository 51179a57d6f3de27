import type { ReactNode } from 'react'
import { percent } from '../lib/format'

/** A progress bar; indeterminate (striped) when the total is unknown */
export function ProgressBar ({ done, total, label }: { done?: number | undefined, total?: number | undefined, label: string }): ReactNode {
  const p = percent(done, total)
  return (
    <div className={`progress${p == null ? ' indeterminate' : ''}`} role="progressbar" aria-label={label}
      aria-valuemin={0} aria-valuemax={100} {...(p != null ? { 'aria-valuenow': p } : {})}>
      <div className="progress-fill" style={{ width: `${p ?? 100}%` }} />
    </div>
  )
}
