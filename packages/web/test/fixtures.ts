import type { Peer, Replication, ReplicationCell, Strategy } from '../src/api/types'

export const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelfAAAAAA'
export const B = '12D3KooWPeerBPeerBPeerBPeerBPeerBPeerBPeerBBBBBBB'
export const C = '12D3KooWPeerCPeerCPeerCPeerCPeerCPeerCPeerCCCCCCC'

export function cell (peerId: string, image: string, state: ReplicationCell['state'], extra: Partial<ReplicationCell> = {}): ReplicationCell {
  return { peerId, image, cid: 'bafyimage', state, docker: true, updatedAt: '2025-01-01T00:00:00.000Z', ...extra }
}

export const replication: Replication = {
  peers: [B, C, SELF],
  images: ['busybox:1.36', 'nginx:1.27'],
  cells: [
    cell(B, 'busybox:1.36', 'fetching', { bytesDone: 512 * 1024, bytesTotal: 2 * 1024 * 1024 }),
    cell(SELF, 'busybox:1.36', 'loaded'),
    cell(C, 'busybox:1.36', 'failed', { error: 'no space left on device' }),
    cell(C, 'nginx:1.27', 'pinned', { docker: false })
  ]
}

export const peers: Peer[] = [
  { id: SELF, self: true, addrs: ['/ip4/127.0.0.1/tcp/4001'], connected: true, live: true },
  { id: B, self: false, addrs: ['/ip4/127.0.0.1/tcp/4002'], connected: true, live: true, latencyMs: 1.2, lastSeen: '2025-01-01T00:00:00.000Z', announcement: { version: '0.1.0', docker: true, addrs: [] } },
  { id: C, self: false, addrs: [], connected: false, live: false }
]

export const strategy: Strategy = {
  key: 'percentage-busybox:1.36-50',
  type: 'percentage',
  nametag: 'busybox:1.36',
  percentage: 50,
  execute: true,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  createdBy: SELF,
  image: { state: 'ready', cid: 'bafyimage' },
  selected: [SELF, B],
  replicas: 2,
  status: { wanted: 2, pending: 0, fetching: 1, pinned: 0, loaded: 1, failed: 0, peers: [] }
}
