import type { ReactNode } from 'react'
import type { ApiError } from '../api/client'

/** "Loading…" before the first answer; the error when the last fetch failed */
export function LoadState ({ loading, error }: { loading: boolean, error?: ApiError | undefined }): ReactNode {
  if (error != null) return <p className="error-box" role="alert">Could not load: {error.message}</p>
  if (loading) return <p className="muted">Loading…</p>
  return null
}
