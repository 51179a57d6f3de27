import type { Peer, ProviderStats, StoreStats } from '@distromash/p2pcomm'
import type { DiskStats } from '../disk/budget.js'
import type { Records } from '../records/records.js'
import type { WriteAuthorization } from '../records/policy.js'

/** What the API needs from the node; handlers never see libp2p. */
export interface Identity {
  peerId: string
  addrs: string[]
  privateNetwork: boolean
  version: string
  writeAuthorization: WriteAuthorization
  /** Where this node keeps its content */
  content: { kind: 'embedded' | 'kubo', description: string, url?: string }
}

export interface ApiDeps {
  records: Records
  identity: () => Identity
  peers: () => Promise<Peer[]>
  stats: () => { store: StoreStats, connections: number, droppedAnnouncements: number, providers: ProviderStats }
  /** Disk use of the data dir against --max-disk (absent in tests without a node) */
  disk?: () => DiskStats
  /** false while the node is starting or stopping */
  ready: () => boolean
}
