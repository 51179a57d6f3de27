import type { MeshTraffic, ProviderStats, StoreStats } from '@distromash/p2pcomm'
import type { ReplicationState } from '../records/schemas.js'

/**
 * What the metrics read from the node, each a plain snapshot taken at scrape time. The
 * composition root fills it from the mesh node, the records and the reconciler; unit tests
 * pass literals. Nothing here is a prom-client type: the other packages never see prom-client.
 */
export interface MetricsSources {
  version: string
  /** Every peer this node knows, itself included (flagged self) */
  peers: () => Promise<Array<{ self: boolean, connected: boolean, live: boolean }>>
  stats: () => { store: StoreStats, connections: number, droppedAnnouncements: number, providers: ProviderStats }
  traffic: () => MeshTraffic
  /** Keys of the replicated store's live records */
  storeKeys: () => Promise<string[]>
  /** This node's replication state of each image it has a status for */
  replicationStates: () => Promise<ReplicationState[]>
  /** Images assigned here and not yet final, and those being worked on now */
  reconcileQueue: () => { waiting: number, running: number }
  /** Bytes of blocks this node holds, and its disk budget (0: none) */
  disk: () => Promise<{ usedBytes: number, limitBytes: number }>
}

/** An import job as the metrics see it: ImportJobs' job events fit */
export interface ImportEvent {
  state: 'running' | 'done' | 'failed'
  bytesDone: number
  bytesTotal: number
  createdAt: string
  finishedAt?: string
}
