import { z } from 'zod'

/** What a node says about itself over gossip (and keeps under `peer/<id>` in the store). */
export const AnnouncementSchema = z.object({
  version: z.string().max(64),
  apiPort: z.number().int().min(1).max(65535).optional(),
  registryPort: z.number().int().min(1).max(65535).optional(),
  docker: z.boolean(),
  addrs: z.array(z.string().max(256)).max(32),
  /** A sidecar's Kubo, which the other nodes' Kubos peer with (content/kubo-peering.ts) */
  ipfs: z.object({ id: z.string().min(1).max(128), addrs: z.array(z.string().max(256)).max(8) }).strict().optional()
}).strict()

export type Announcement = z.infer<typeof AnnouncementSchema>

export const MAX_ANNOUNCEMENT_BYTES = 16 * 1024

export function encodeAnnouncement (a: Announcement): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(a))
}

/** undefined for anything that is not a well-formed announcement */
export function decodeAnnouncement (data: Uint8Array): Announcement | undefined {
  if (data.byteLength > MAX_ANNOUNCEMENT_BYTES) return undefined
  try {
    const parsed = AnnouncementSchema.safeParse(JSON.parse(new TextDecoder().decode(data)))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
