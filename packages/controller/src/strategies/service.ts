import { UnauthorizedWriteError } from '@distromash/p2pcomm'
import { formatReference, parseReference, type ImageReference } from '@distromash/multiplatform2ipfs'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { ImportJobs } from '../images/jobs.js'
import { STRATEGY_PREFIX } from '../records/keys.js'
import type { Records } from '../records/records.js'
import type { Assignment, ReplicationStatus, StrategyRecord } from '../records/schemas.js'
import type { Assigner } from './assigner.js'
import { StrategyConflictError, StrategyNotFoundError, StrategyValidationError } from './errors.js'
import { strategyKey, type StrategyInput } from './strategy.js'

export interface StrategyServiceInit {
  peerId: string
  records: Records
  assigner: Assigner
  jobs: ImportJobs
  /** name:tag → image record, and CID → name:tag, from the catalog */
  image: (nametag: string) => Promise<{ cid: string } | undefined>
  nameOfCid: (cid: string) => Promise<string | undefined>
  /** Every peer ID the mesh knows */
  knownPeers: () => Promise<string[]>
  log: Logger
}

export interface StrategyUpdate {
  key: string
  execute?: boolean
  percentage?: number
  target?: string
}

/** A strategy with what it selected and how far replication got */
export interface StrategyView extends StrategyRecord {
  image: { state: 'importing' | 'ready' | 'failed', cid?: string, error?: string }
  selected: string[]
  replicas: number
  status: { wanted: number, pending: number, fetching: number, pinned: number, loaded: number, failed: number, peers: Array<ReplicationStatus & { peerId: string }> }
}

export class StrategyService {
  constructor (private readonly init: StrategyServiceInit) {}

  async create (input: StrategyInput): Promise<StrategyView> {
    this.mayWrite()
    const record = await this.validate(input)
    if (await this.init.records.strategy(record.key) !== undefined) {
      throw new StrategyConflictError(`strategy ${record.key} exists; PUT /api/v1/strategy to change it`)
    }
    await this.importIfMissing(record)
    // the assignment is computed while the strategy is written, and written right after it, so
    // peers' reconcilers see the two together in one pass
    const [assignment] = await Promise.all([this.init.assigner.compute(record), this.init.records.putStrategy(record)])
    await this.init.records.putAssignment(record.key, assignment)
    return this.view(record.key)
  }

  /** The peers a strategy would select now, without storing anything */
  async preview (input: StrategyInput): Promise<{ selected: string[], replicas: number }> {
    const assignment = await this.init.assigner.compute(await this.validate(input))
    return { selected: assignment.peers, replicas: assignment.replicas }
  }

  async update (change: StrategyUpdate): Promise<StrategyView> {
    this.mayWrite()
    const current = await this.record(change.key)
    const next = await this.validate({ ...current, ...definedOnly(change) })
    const record: StrategyRecord = { ...current, execute: next.execute, percentage: next.percentage, target: next.target, updatedAt: new Date().toISOString() }
    if (record.import?.state === 'failed') await this.importIfMissing(record)
    await this.init.records.putStrategy(record)
    await this.init.assigner.assign(record, await this.assignment(record.key))
    return this.view(record.key)
  }

  async delete (key: string): Promise<void> {
    this.mayWrite()
    await this.record(key)
    await this.init.records.deleteStrategy(key)
  }

  async list (): Promise<StrategyView[]> {
    return Promise.all((await this.init.records.strategies()).map(async record => this.view(record.key)))
  }

  async view (key: string): Promise<StrategyView> {
    const record = await this.record(key)
    const assignment = await this.assignment(key)
    const image = await this.init.image(record.nametag)
    const selected = assignment?.peers ?? []
    const peers = await Promise.all(selected.map(async peerId => {
      const status = await this.init.records.status(peerId, record.nametag)
      return status != null ? { ...status, peerId } : { peerId, image: record.nametag, cid: image?.cid ?? '', state: 'pending' as const, docker: true, updatedAt: assignment?.at ?? record.updatedAt }
    }))
    const count = (state: string): number => peers.filter(p => p.state === state).length
    return {
      ...record,
      image: image != null ? { state: 'ready', cid: image.cid } : { state: record.import?.state ?? 'importing', error: record.import?.error },
      selected,
      replicas: assignment?.replicas ?? 0,
      status: { wanted: record.execute ? selected.length : 0, pending: count('pending'), fetching: count('fetching'), pinned: count('pinned'), loaded: count('loaded'), failed: count('failed'), peers }
    }
  }

  /** Before any work: a node that is not a writer would only start an import and write records the mesh drops */
  private mayWrite (): void {
    const denied = this.init.records.deniesDesiredState()
    if (denied != null) throw new UnauthorizedWriteError(`this node may not change strategies: ${denied}`, STRATEGY_PREFIX)
  }

  private async record (key: string): Promise<StrategyRecord> {
    const record = await this.init.records.strategy(key)
    if (record == null) throw new StrategyNotFoundError(`no strategy ${key}`)
    return record
  }

  private async assignment (key: string): Promise<Assignment | undefined> {
    return this.init.records.assignment(key)
  }

  /** Normalise and check a strategy; the unused field of a type is dropped */
  private async validate (input: StrategyInput): Promise<StrategyRecord> {
    const nametag = await this.nametag(input.nametag)
    const now = new Date().toISOString()
    if (input.type === 'target') {
      const target = String(input.target)
      if (!(await this.init.knownPeers()).includes(target)) throw new StrategyValidationError(`target ${target} is not a peer of this mesh`, 'target')
      return { key: strategyKey('target', nametag, target), type: 'target', nametag, target, execute: input.execute, createdAt: now, updatedAt: now, createdBy: this.init.peerId }
    }
    const percentage = input.percentage as number
    return { key: strategyKey('percentage', nametag, percentage), type: 'percentage', nametag, percentage, execute: input.execute, createdAt: now, updatedAt: now, createdBy: this.init.peerId }
  }

  /** An image reference (busybox → busybox:latest) or the CID of an image known to the mesh */
  private async nametag (text: string): Promise<string> {
    if (/^(baf|Qm)/.test(text)) {
      let cid: CID
      try { cid = CID.parse(text) } catch { throw new StrategyValidationError(`"${text}" is neither an image reference nor a CID`, 'nametag') }
      const name = await this.init.nameOfCid(cid.toString())
      if (name == null) throw new StrategyValidationError(`CID ${text} is not an image known to the mesh`, 'nametag')
      return name
    }
    let ref: ImageReference
    try { ref = parseReference(text) } catch (err) { throw new StrategyValidationError((err as Error).message, 'nametag') }
    if (ref.digest != null && ref.tag == null) throw new StrategyValidationError('nametag needs a tag (name:tag)', 'nametag')
    return formatReference({ ...ref, digest: undefined })
  }

  /** The node that receives a strategy imports its image when the mesh does not have it yet */
  private async importIfMissing (record: StrategyRecord): Promise<void> {
    if (await this.init.image(record.nametag) != null) {
      delete record.import
      return
    }
    const job = this.init.jobs.start(parseReference(record.nametag))
    record.import = { state: 'importing', by: this.init.peerId }
    void this.init.jobs.wait(job.id).then(async done => {
      const current = await this.record(record.key).catch(() => undefined)
      if (current == null) return
      const { import: _, ...rest } = current
      const next: StrategyRecord = done?.state === 'failed' ? { ...rest, import: { state: 'failed', error: done.error, by: this.init.peerId } } : rest
      await this.init.records.putStrategy(next)
    }).catch((err: Error) => { this.init.log.warn({ err: err.message }, 'could not record import result') })
  }
}

function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
