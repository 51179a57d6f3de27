import type { ReactNode } from 'react'
import type { DiskUsage as ApiDiskUsage } from '../api/types'
import { formatBytes } from '../lib/format'

/** What the view shows of /health's disk (the API's DiskUsage, generated) */
export type DiskUsage = Pick<ApiDiskUsage, 'usedBytes' | 'freeBytes' | 'limitBytes' | 'full' | 'reason' | 'evictions' | 'reclaimedBytes'>

/** "1.2 GB of 20 GB (6 %)", or "1.2 GB (no limit), 50 GB free"; full in red with its reason */
export function DiskUsageView ({ disk }: { disk: DiskUsage }): ReactNode {
  const { usedBytes, limitBytes, freeBytes } = disk
  const use = limitBytes != null
    ? <>{formatBytes(usedBytes)} of {formatBytes(limitBytes)} ({Math.round(100 * usedBytes / limitBytes)} %)</>
    : <>{formatBytes(usedBytes)} (no limit), {formatBytes(freeBytes)} free</>
  return (
    <span className={disk.full ? 'error-text' : undefined} data-testid="disk-usage">
      {use}
      {disk.full && <> — full: {disk.reason}</>}
      {disk.evictions > 0 && <span className="muted">; {disk.evictions} cached images evicted</span>}
    </span>
  )
}
