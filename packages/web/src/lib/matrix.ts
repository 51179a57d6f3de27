import type { CellState, Replication, ReplicationCell } from '../api/types'

export interface Matrix {
  peers: string[]
  images: string[]
  /** rows[i][j]: peers[i] × images[j], undefined where the peer has no status for the image */
  rows: Array<Array<ReplicationCell | undefined>>
  counts: Record<CellState, number>
}

/** Cells a peer holds usable bytes for */
export const HOLDING: CellState[] = ['pinned', 'loaded']

export function emptyCounts (): Record<CellState, number> {
  return { pending: 0, fetching: 0, pinned: 0, loaded: 0, failed: 0, removing: 0 }
}

/** The peers × images matrix; this node's row first, then peers in the API's order. */
export function buildMatrix (r: Replication, selfId?: string): Matrix {
  const all = [...new Set([...r.peers, ...r.cells.map(c => c.peerId)])]
  const peers = selfId != null && all.includes(selfId) ? [selfId, ...all.filter(p => p !== selfId)] : all
  const images = [...new Set([...r.images, ...r.cells.map(c => c.image)])].sort()
  const byKey = new Map(r.cells.map(c => [`${c.peerId}\n${c.image}`, c]))
  const counts = emptyCounts()
  for (const c of r.cells) counts[c.state]++
  return { peers, images, counts, rows: peers.map(p => images.map(i => byKey.get(`${p}\n${i}`))) }
}

/** Peers holding an image (pinned or loaded), from the replication cells */
export function holders (cells: ReplicationCell[], image: string): string[] {
  return cells.filter(c => c.image === image && HOLDING.includes(c.state)).map(c => c.peerId)
}

/** Images a peer holds (pinned or loaded) */
export function heldBy (cells: ReplicationCell[], peerId: string): string[] {
  return cells.filter(c => c.peerId === peerId && HOLDING.includes(c.state)).map(c => c.image).sort()
}

/** Per image: how many peers are in each state */
export function summaryByImage (cells: ReplicationCell[]): Array<{ image: string, counts: Record<CellState, number>, total: number }> {
  const out = new Map<string, Record<CellState, number>>()
  for (const c of cells) {
    const counts = out.get(c.image) ?? emptyCounts()
    counts[c.state]++
    out.set(c.image, counts)
  }
  return [...out].sort(([a], [b]) => a.localeCompare(b)).map(([image, counts]) => ({ image, counts, total: Object.values(counts).reduce((s, n) => s + n, 0) }))
}
