import type { Peer, ReplicatedStore, StoreStats } from '@distromash/p2pcomm'

/** What the API needs from the node; handlers never see libp2p or Yjs. */
export interface Identity {
  peerId: string
  addrs: string[]
  privateNetwork: boolean
  version: string
}

export interface ApiDeps {
  store: ReplicatedStore
  identity: () => Identity
  peers: () => Promise<Peer[]>
  stats: () => { store: StoreStats, connections: number, droppedAnnouncements: number }
  /** false while the node is starting or stopping */
  ready: () => boolean
}
