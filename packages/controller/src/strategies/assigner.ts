import type { ReplicatedStore } from '@distromash/p2pcomm'
import type { Logger } from 'pino'
import { replicaCount, selectPeers } from './selection.js'
import { ASSIGNMENT_PREFIX, AssignmentSchema, STRATEGY_PREFIX, StrategyRecordSchema, type Assignment, type StrategyRecord } from './strategy.js'

/** Peers heard from within the grace period, this node included */
export type LivePeers = () => Promise<string[]>

export interface AssignerInit {
  peerId: string
  store: ReplicatedStore
  livePeers: LivePeers
  log: Logger
  /** A peer silent for longer than this is replaced */
  graceMs: number
  intervalMs?: number
}

/**
 * Keeps every strategy's assignment in line with the live mesh. Any node may compute an
 * assignment (the computation is deterministic), but only the coordinator — the lowest live
 * peer ID — rewrites existing ones, and only after it has been up for a grace period, so a
 * freshly restarted node with a partial view of the mesh never reshuffles replicas.
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
    await this.init.store.put(ASSIGNMENT_PREFIX + strategy.key, next)
    return next
  }

  async evaluateAll (): Promise<void> {
    if (!await this.isCoordinator()) return
    for (const { value } of await this.init.store.list(STRATEGY_PREFIX)) {
      const strategy = StrategyRecordSchema.safeParse(value)
      if (!strategy.success) continue
      const current = AssignmentSchema.safeParse(await this.init.store.get(ASSIGNMENT_PREFIX + strategy.data.key))
      const next = await this.compute(strategy.data, current.success ? current.data : undefined)
      if (!current.success || !samePeers(current.data, next)) {
        this.init.log.info({ strategy: strategy.data.key, peers: next.peers }, 'reassigning')
        await this.init.store.put(ASSIGNMENT_PREFIX + strategy.data.key, next)
      }
    }
  }

  private async isCoordinator (): Promise<boolean> {
    if (Date.now() - this.startedAt < this.init.graceMs) return false
    const live = await this.init.livePeers()
    return [...live].sort()[0] === this.init.peerId
  }
}

function samePeers (a: Assignment, b: Assignment): boolean {
  return a.replicas === b.replicas && a.peers.join() === b.peers.join()
}
