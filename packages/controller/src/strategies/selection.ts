import { createHash } from 'node:crypto'

/**
 * Who gets a strategy's image. Deterministic from the same inputs on every node:
 * - the count is ceil(p% × live peers), at least 1 (DistroMash floored, so small percentages chose nobody);
 * - peers are ranked by rendezvous hashing of (strategy key, peer ID): stable, evenly spread,
 *   and one peer leaving only moves that peer's share;
 * - the current assignment is sticky: chosen peers keep their place while live or within the
 *   grace period, so a brief restart moves nothing, and a peer gone longer is replaced; when it
 *   returns, it is not chosen again unless the count grows.
 */
export function replicaCount (percentage: number, livePeers: number): number {
  if (livePeers === 0) return 0
  return Math.min(livePeers, Math.max(1, Math.ceil((percentage / 100) * livePeers)))
}

export function rank (strategyKey: string, peers: string[]): string[] {
  const score = (peer: string): string => createHash('sha256').update(`${strategyKey}\n${peer}`).digest('hex')
  return [...peers].sort((a, b) => (score(a) < score(b) ? 1 : score(a) > score(b) ? -1 : a < b ? -1 : 1))
}

export interface SelectionInput {
  strategyKey: string
  /** How many peers to choose */
  count: number
  /** Peers heard from within the grace period: the only candidates */
  live: string[]
  /** The current assignment (may be empty) */
  current: string[]
}

export function selectPeers (input: SelectionInput): string[] {
  const ranked = rank(input.strategyKey, input.live)
  // keep current choices that are still live, best ranked first, up to the count
  const live = new Set(input.live)
  const kept = rank(input.strategyKey, input.current.filter(p => live.has(p))).slice(0, input.count)
  const fill = ranked.filter(p => !kept.includes(p)).slice(0, Math.max(0, input.count - kept.length))
  return [...kept, ...fill].sort()
}
