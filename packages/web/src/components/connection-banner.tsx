import { useEffect, useState, type ReactNode } from 'react'
import type { LiveStatus } from '../api/events'

/** Shown while the live event stream is down, with the time to the next try */
export function ConnectionBanner ({ status }: { status: LiveStatus }): ReactNode {
  const [, tick] = useState(0)
  const retrying = status.state === 'retrying'
  useEffect(() => {
    if (!retrying) return
    const t = setInterval(() => { tick(n => n + 1) }, 500)
    return () => { clearInterval(t) }
  }, [retrying])
  if (status.state !== 'retrying') return null
  const secs = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000))
  return (
    <div className="banner" role="alert" data-testid="disconnected">
      <strong>Disconnected — retrying.</strong> Live updates from the node stopped;
      {secs > 0 ? ` next try in ${secs} s` : ' trying now'} (attempt {status.attempt}). Pages show the last data received.
    </div>
  )
}
