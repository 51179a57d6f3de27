import { z } from 'zod'
import { MAX_NAMETAG, STRATEGY_TYPES, type StrategyType } from '../records/schemas.js'

/**
 * A replication strategy as users POST it (DistroMash-compatible). As it is kept in the
 * replicated store, it is a StrategyRecord (records/schemas.ts).
 */

export { STRATEGY_TYPES, type StrategyType }

export const StrategyInputSchema = z.object({
  type: z.enum(STRATEGY_TYPES),
  nametag: z.string().min(1).max(MAX_NAMETAG),
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

export function strategyKey (type: StrategyType, nametag: string, parameter: number | string): string {
  return `${type}-${nametag}-${parameter}`
}
