import { cidRecordSchema, imageRecordSchema } from '@distromash/multiplatform2ipfs'
import type { RecordSchema } from '@distromash/p2pcomm'
import { z } from 'zod'
import { ASSIGNMENT_PREFIX, CID_PREFIX, IMAGE_PREFIX, STATUS_PREFIX, STRATEGY_PREFIX } from './keys.js'

/** Every record's schema: local writes are refused, and records from peers dropped, when they fail it. */

/**
 * An image name:tag at its longest: distribution caps a name at 255 characters and a tag at 128.
 * Every key derived from one (strategy/…, status/<peer>/…) then stays well under the store's 512.
 */
export const MAX_NAMETAG = 384

export const STRATEGY_TYPES = ['percentage', 'target'] as const
export type StrategyType = typeof STRATEGY_TYPES[number]

export const ImportStateSchema = z.object({
  state: z.enum(['importing', 'failed']),
  error: z.string().max(2000).optional(),
  by: z.string().max(128)
})

export const StrategyRecordSchema = z.object({
  key: z.string().max(600),
  type: z.enum(STRATEGY_TYPES),
  /** Normalised image name:tag (familiar form, e.g. busybox:1.35.0) */
  nametag: z.string().max(MAX_NAMETAG),
  percentage: z.number().int().min(1).max(100).optional(),
  target: z.string().max(128).optional(),
  execute: z.boolean(),
  createdAt: z.string().max(64),
  updatedAt: z.string().max(64),
  createdBy: z.string().max(128),
  /** Present while the image is being imported, or when its import failed */
  import: ImportStateSchema.optional()
})

export type StrategyRecord = z.infer<typeof StrategyRecordSchema>

/** Which peers a strategy has chosen; rewritten as peers come and go */
export const AssignmentSchema = z.object({
  peers: z.array(z.string().max(128)).max(10_000),
  replicas: z.number().int().min(0),
  at: z.string().max(64),
  by: z.string().max(128)
})

export type Assignment = z.infer<typeof AssignmentSchema>

/** One peer's replication state for one image, written only by that peer */
export const REPLICATION_STATES = ['pending', 'fetching', 'pinned', 'loaded', 'failed', 'removing'] as const
export type ReplicationState = typeof REPLICATION_STATES[number]

export const ReplicationStatusSchema = z.object({
  image: z.string().max(MAX_NAMETAG),
  cid: z.string().max(256),
  state: z.enum(REPLICATION_STATES),
  bytesDone: z.number().int().min(0).optional(),
  bytesTotal: z.number().int().min(0).optional(),
  /** false: this peer has no Docker engine and holds the image pinned only */
  docker: z.boolean(),
  /** Where this peer keeps the image: kubo peers fetch over Kubo's bitswap, not the block exchange's swarm */
  content: z.enum(['embedded', 'kubo']).optional(),
  error: z.string().max(2000).optional(),
  retryAt: z.string().max(64).optional(),
  attempts: z.number().int().min(0).optional(),
  updatedAt: z.string().max(64)
})

export type ReplicationStatus = z.infer<typeof ReplicationStatusSchema>

/** For the store's validator: one schema per prefix */
export const RECORD_SCHEMAS: RecordSchema[] = [
  { prefix: IMAGE_PREFIX, schema: imageRecordSchema },
  { prefix: CID_PREFIX, schema: cidRecordSchema },
  { prefix: STRATEGY_PREFIX, schema: StrategyRecordSchema },
  { prefix: ASSIGNMENT_PREFIX, schema: AssignmentSchema },
  { prefix: STATUS_PREFIX, schema: ReplicationStatusSchema }
]
