// The API's resource shapes (docs/api.md; /openapi.json is authoritative).

export interface WriteAuthorization { enabled: boolean, writers: number, selfIsWriter: boolean, summary: string }

/** Where a node keeps blocks and pins: its embedded Helia, or a Kubo daemon beside it (--ipfs-api) */
export interface ContentBackend { kind: 'embedded' | 'kubo', description: string, url?: string }

export interface Identity { peerId: string, addrs: string[], privateNetwork: boolean, version: string, writeAuthorization: WriteAuthorization, content?: ContentBackend }

export type DropReason = 'malformed' | 'bad-signature' | 'unauthorized' | 'stale' | 'future' | 'invalid-value' | 'rate-limited' | 'over-quota'

export interface Health {
  status: 'ok' | 'unavailable'
  peers: number
  connections: number
  store: { keys: number, tombstones: number, droppedMessages: number, dropped: Record<DropReason, number>, remoteUpdates: number, duplicates: number }
  droppedAnnouncements: number
  writeAuthorization: WriteAuthorization
}

export interface Peer {
  id: string
  self: boolean
  addrs: string[]
  connected: boolean
  latencyMs?: number
  lastSeen?: string
  lastConnected?: string
  live: boolean
  announcement?: { version: string, apiPort?: number, registryPort?: number, docker: boolean, addrs: string[] }
}

export interface StoreEntry { key: string, value: unknown }

export interface ImageRecord {
  name: string
  tag: string
  cid: string
  digest: string
  mediaType: string
  platforms: string[]
  size: number
  source: string
  importedBy: string
  at: string
}

export interface ImportJob {
  id: string
  image: string
  state: 'running' | 'done' | 'failed'
  bytesDone: number
  bytesTotal: number
  cid?: string
  digest?: string
  platforms?: string[]
  error?: string
  createdAt: string
  finishedAt?: string
}

export interface ImportRequest { name: string, tag?: string, platforms?: string[] }

export const CELL_STATES = ['pending', 'fetching', 'pinned', 'loaded', 'failed', 'removing'] as const
export type CellState = typeof CELL_STATES[number]

export interface ReplicationCell {
  peerId: string
  image: string
  cid: string
  state: CellState
  bytesDone?: number
  bytesTotal?: number
  docker: boolean
  error?: string
  retryAt?: string
  updatedAt: string
}

export interface Replication { peers: string[], images: string[], cells: ReplicationCell[] }

export type StrategyType = 'percentage' | 'target'

export interface StrategyInput {
  type: StrategyType
  nametag: string
  percentage?: number
  target?: string
  execute: boolean
}

export interface StrategyUpdate { key: string, execute?: boolean, percentage?: number, target?: string }

export interface StrategyStatus {
  wanted: number
  pending: number
  fetching: number
  pinned: number
  loaded: number
  failed: number
  peers: ReplicationCell[]
}

export interface Strategy {
  key: string
  type: StrategyType
  nametag: string
  percentage?: number
  target?: string
  execute: boolean
  createdAt: string
  updatedAt: string
  createdBy: string
  image: { state: 'importing' | 'ready' | 'failed', cid?: string, error?: string }
  selected: string[]
  replicas: number
  status: StrategyStatus
}

export interface Preview { selected: string[], replicas: number }

/** Server-sent event names of GET /api/v1/events */
export type EventName = 'store' | 'replication' | 'strategy' | 'image' | 'job' | 'peers' | 'identity'
