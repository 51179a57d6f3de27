import type { Logger } from 'pino'
import type { Records } from '../records/records.js'
import type { Assignment, StrategyRecord } from '../records/schemas.js'
import { replicaCount, selectPeers } from './selection.js'

/** Peers heard from within the grace period, this node included */
export type LivePeers = () => Promise<string[]>

export interface AssignerInit {
  peerId: string
  records: Records
  livePeers: LivePeers
  log: Logger
  /** A peer silent for longer than this is replaced */
  graceMs: number
  intervalMs?: number
  /** Whether a peer may write assignments (every peer without a writers file) */
  isWriter?: (peer: string) => boolean
}

/**
 * Keeps every strategy's assignment in line with the live mesh. Any writer may compute an
 * assignment (the computation is deterministic), but only the coordinator — the lowest live
 * peer ID among the writers — rewrites existing ones, and only after it has been up for a grace
 * period, so a freshly restarted node with a partial view of the mesh never reshuffles replicas.
 * While no writer is up, assignments stay as they are: hosts keep what they hold, a gone peer
 * is not replaced and joining peers are not counted until a writer returns.
 */
export class Assigner {
  private timer?: NodeJS.Timeout
  private readonly startedAt = Date.now()

  constructor (private readonly init: AssignerInit) {}

  start (): void {
    this.timer = setInterval(() => { void this.evaluateAll().catch(err => { this.init.log.warn({ err: (err as Error).message }, 'assignment pass failed') }) }, this.init.intervalMs ?? 5_000)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** The assignment this strategy should have now, given the current one */
  async compute (strategy: StrategyRecord, current?: Assignment): Promise<Assignment> {
    const live = await this.init.livePeers()
    const count = strategy.type === 'target' ? 1 : replicaCount(strategy.percentage ?? 0, live.length)
    const peers = strategy.type === 'target'
      ? [strategy.target ?? '']
      : selectPeers({ strategyKey: strategy.key, count, live, current: current?.peers ?? [] })
    return { peers, replicas: count, at: new Date().toISOString(), by: this.init.peerId }
  }

  /** Write a fresh assignment for a strategy (used when it is created or changed) */
  async assign (strategy: StrategyRecord, current?: Assignment): Promise<Assignment> {
    const next = await this.compute(strategy, current)
    await this.init.records.putAssignment(strategy.key, next)
    return next
  }

  async evaluateAll (): Promise<void> {
    if (!await this.isCoordinator()) return
    for (const strategy of await this.init.records.strategies()) {
      const current = await this.init.records.assignment(strategy.key)
      const next = await this.compute(strategy, current)
      if (current == null || !samePeers(current, next)) {
        this.init.log.info({ strategy: strategy.key, peers: next.peers }, 'reassigning')
        await this.init.records.putAssignment(strategy.key, next)
      }
    }
  }

  private async isCoordinator (): Promise<boolean> {
    if (Date.now() - this.startedAt < this.init.graceMs) return false
    const isWriter = this.init.isWriter ?? (() => true)
    if (!isWriter(this.init.peerId)) return false
    const live = await this.init.livePeers()
    return [...live].filter(isWriter).sort()[0] === this.init.peerId
  }
}

function samePeers (a: Assignment, b: Assignment): boolean {
  return a.replicas === b.replicas && a.peers.join() === b.peers.join()
}
