import { z } from 'zod'

/**
 * A replication strategy, as users POST it (DistroMash-compatible) and as it is kept in the
 * replicated store under `strategy/<key>`.
 */
export const STRATEGY_TYPES = ['percentage', 'target'] as const
export type StrategyType = typeof STRATEGY_TYPES[number]

export const StrategyInputSchema = z.object({
  type: z.enum(STRATEGY_TYPES),
  nametag: z.string().min(1).max(512),
  // the field a type does not use is still sent by DistroMash clients ("target": "doesntmatter"): accept anything there
  percentage: z.unknown().optional(),
  target: z.unknown().optional(),
  execute: z.boolean().default(true)
}).superRefine((s, ctx) => {
  if (s.type === 'percentage') {
    const ok = typeof s.percentage === 'number' && Number.isInteger(s.percentage) && s.percentage >= 1 && s.percentage <= 100
    if (!ok) ctx.addIssue({ code: 'custom', path: ['percentage'], message: 'percentage must be an integer from 1 to 100' })
  } else if (typeof s.target !== 'string' || s.target === '') {
    ctx.addIssue({ code: 'custom', path: ['target'], message: 'target must be the peer ID of a mesh node' })
  }
})

export type StrategyInput = z.infer<typeof StrategyInputSchema>

export const ImportStateSchema = z.object({
  state: z.enum(['importing', 'failed']),
  error: z.string().max(2000).optional(),
  by: z.string().max(128)
})

export const StrategyRecordSchema = z.object({
  key: z.string().max(600),
  type: z.enum(STRATEGY_TYPES),
  /** Normalised image name:tag (familiar form, e.g. busybox:1.35.0) */
  nametag: z.string().max(512),
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

export const STRATEGY_PREFIX = 'strategy/'
export const ASSIGNMENT_PREFIX = 'assignment/'

export function strategyKey (type: StrategyType, nametag: string, parameter: number | string): string {
  return `${type}-${nametag}-${parameter}`
}
