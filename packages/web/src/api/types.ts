// The API's resource shapes, named for the dashboard. Every shape comes from openapi.d.ts, which is
// generated from the API's OpenAPI document (npm run gen:api -w @distromash/web): when the API
// changes, regenerate, and the compiler shows what the dashboard must follow.
import type { components } from './openapi'

type Schemas = components['schemas']

export type WriteAuthorization = Schemas['WriteAuthorization']
/** Where a node keeps blocks and pins: its embedded Helia, or a Kubo daemon beside it (--ipfs-api) */
export type ContentBackend = Schemas['ContentBackend']
export type Identity = Schemas['Identity']
export type Health = Schemas['Health']
export type DropReason = keyof Health['store']['dropped']
/** The data dir's disk use against --max-disk, garbage collection and eviction (in Health) */
export type DiskUsage = Schemas['DiskUsage']
export type Peer = Schemas['Peer']
export type StoreEntry = Schemas['StoreEntry']
export type ImageRecord = Schemas['ImageRecord']
export type ImportJob = Schemas['ImportJob']
export type ImportRequest = Schemas['ImportRequest']
export type ReplicationCell = Schemas['ReplicationCell']
export type CellState = ReplicationCell['state']
export type Replication = Schemas['Replication']
export type Strategy = Schemas['Strategy']
export type StrategyType = Strategy['type']
export type StrategyStatus = Schemas['StrategyStatus']
export type StrategyUpdate = Schemas['StrategyUpdate']
export type Preview = Schemas['Preview']

/**
 * What the dashboard posts as a strategy. The API takes anything in the field a type does not use
 * (DistroMash clients send `"target": "doesntmatter"`), so its schema says unknown there; the
 * dashboard sends only the field its type uses, with that field's real type.
 */
export type StrategyInput = Omit<Schemas['StrategyRequest'], 'percentage' | 'target'> & { percentage?: number, target?: string }

/** Every cell state, in the order the dashboard shows them; the compiler checks it against the API */
export const CELL_STATES = ['pending', 'fetching', 'pinned', 'loaded', 'failed', 'removing'] as const satisfies readonly CellState[]
type None<T extends never> = T
/** Fails to compile when the API gains a cell state CELL_STATES lacks */
export type CellStatesCoverTheApi = None<Exclude<CellState, typeof CELL_STATES[number]>>

/** Data of some server-sent events (the others carry ReplicationCell, ImportJob and Identity) */
export type StoreEvent = Schemas['StoreEvent']
export type StrategyEvent = Schemas['StrategyEvent']
export type ImageEvent = Schemas['ImageEvent']
export type PeersEvent = Schemas['PeersEvent']

/** Server-sent event names of GET /api/v1/events (docs/api.md; OpenAPI describes the data, not the names) */
export type EventName = 'store' | 'replication' | 'strategy' | 'image' | 'job' | 'peers' | 'identity'
