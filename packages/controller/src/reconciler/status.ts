import { z } from 'zod'

/**
 * One peer's replication state for one image, written only by that peer under
 * `status/<peerId>/<name:tag>`, so writers never contend for a key.
 */
export const REPLICATION_STATES = ['pending', 'fetching', 'pinned', 'loaded', 'failed', 'removing'] as const
export type ReplicationState = typeof REPLICATION_STATES[number]

export const ReplicationStatusSchema = z.object({
  image: z.string().max(512),
  cid: z.string().max(256),
  state: z.enum(REPLICATION_STATES),
  bytesDone: z.number().int().min(0).optional(),
  bytesTotal: z.number().int().min(0).optional(),
  /** false: this peer has no Docker engine and holds the image pinned only */
  docker: z.boolean(),
  error: z.string().max(2000).optional(),
  retryAt: z.string().max(64).optional(),
  attempts: z.number().int().min(0).optional(),
  updatedAt: z.string().max(64)
})

export type ReplicationStatus = z.infer<typeof ReplicationStatusSchema>

export const STATUS_PREFIX = 'status/'

export function statusKey (peerId: string, image: string): string {
  return `${STATUS_PREFIX}${peerId}/${image}`
}

/** `status/<peerId>/<image>` → its parts */
export function parseStatusKey (key: string): { peerId: string, image: string } | undefined {
  const rest = key.slice(STATUS_PREFIX.length)
  const slash = rest.indexOf('/')
  if (!key.startsWith(STATUS_PREFIX) || slash <= 0) return undefined
  return { peerId: rest.slice(0, slash), image: rest.slice(slash + 1) }
}
