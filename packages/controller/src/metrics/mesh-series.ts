import { Gauge, type Registry } from 'prom-client'
import type { DropReason } from '@distromash/p2pcomm'
import { parseKey, type RecordKey } from '../records/keys.js'
import { snapshotCounter } from './snapshot-counter.js'
import type { MetricsSources } from './sources.js'

const DROP_REASONS: DropReason[] = ['malformed', 'bad-signature', 'unauthorized', 'stale', 'future', 'invalid-value', 'rate-limited', 'over-quota']
const RECORD_PREFIXES: Array<RecordKey['kind']> = ['image', 'cid', 'strategy', 'assignment', 'status', 'other']

/** Peers, the replicated store, gossip and sync, block transfer: read from the mesh node at scrape time */
export function meshSeries (registry: Registry, sources: MetricsSources): void {
  peerSeries(registry, sources)
  storeSeries(registry, sources)
  trafficSeries(registry, sources)
}

function gauge (registry: Registry, name: string, help: string, read: () => number | Promise<number>): void {
  new Gauge({ name, help, registers: [registry], async collect () { this.set(await read()) } })
}

function peerSeries (registry: Registry, sources: MetricsSources): void {
  // one read of the peer list per scrape, shared by the three gauges
  let pending: Promise<Array<{ connected: boolean, live: boolean }>> | undefined
  const others = async (): Promise<Array<{ connected: boolean, live: boolean }>> => {
    pending ??= sources.peers().then(peers => peers.filter(p => !p.self)).finally(() => { setImmediate(() => { pending = undefined }) })
    return await pending
  }
  gauge(registry, 'distromash_peers_known', 'Peers this node knows of (directly connected or heard of through the mesh), itself excluded', async () => (await others()).length)
  gauge(registry, 'distromash_peers_connected', 'Peers with an open connection to this node', async () => (await others()).filter(p => p.connected).length)
  gauge(registry, 'distromash_peers_live', 'Peers seen recently (connected, or announced within the liveness window)', async () => (await others()).filter(p => p.live).length)
  gauge(registry, 'distromash_connections', 'Open libp2p connections', () => sources.stats().connections)
}

function storeSeries (registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'distromash_store_records',
    help: 'Live records in the replicated store, by key prefix (image, cid, strategy, assignment, status, other)',
    labelNames: ['prefix'],
    registers: [registry],
    async collect () {
      const counts = new Map(RECORD_PREFIXES.map(p => [p, 0]))
      for (const key of await sources.storeKeys()) {
        const prefix = parseKey(key).kind
        counts.set(prefix, (counts.get(prefix) ?? 0) + 1)
      }
      for (const [prefix, n] of counts) this.set({ prefix }, n)
    }
  })
  gauge(registry, 'distromash_store_tombstones', 'Deleted records kept as signed tombstones', () => sources.stats().store.tombstones)
  snapshotCounter(registry, 'distromash_store_dropped_total', 'Records and messages from peers not applied, by reason', ['reason'],
    () => DROP_REASONS.map(reason => [{ reason }, sources.stats().store.dropped[reason] ?? 0]))
  snapshotCounter(registry, 'distromash_store_remote_updates_total', 'Records from peers applied here', [], () => [[{}, sources.stats().store.remoteUpdates]])
  snapshotCounter(registry, 'distromash_store_duplicates_total', 'Records received again (gossip and sync both deliver most records; not a fault)', [], () => [[{}, sources.stats().store.duplicates]])
  snapshotCounter(registry, 'distromash_announcements_dropped_total', 'Peer announcements not accepted (malformed, or over the number of unconnected peers one neighbour may introduce)', [], () => [[{}, sources.stats().droppedAnnouncements]])
}

function trafficSeries (registry: Registry, sources: MetricsSources): void {
  snapshotCounter(registry, 'distromash_gossip_messages_total', 'Gossip messages received from neighbours (in, before validation) and published by this node (out), by topic', ['topic', 'direction'], () => {
    const { records, announcements } = sources.traffic().gossip
    return [
      [{ topic: 'records', direction: 'in' }, records.in], [{ topic: 'records', direction: 'out' }, records.out],
      [{ topic: 'announcements', direction: 'in' }, announcements.in], [{ topic: 'announcements', direction: 'out' }, announcements.out]
    ]
  })
  snapshotCounter(registry, 'distromash_sync_messages_total', 'Records sync messages received (in) and sent (out), as puller and as answerer', ['direction'], () => {
    const { sync } = sources.traffic()
    return [[{ direction: 'in' }, sync.in], [{ direction: 'out' }, sync.out]]
  })
  snapshotCounter(registry, 'distromash_block_exchange_bytes_total', 'Block bytes sent to and received (verified) from peers over the block exchange protocol', ['direction'], () => {
    const { blockExchange } = sources.traffic()
    return [[{ direction: 'sent' }, blockExchange.sentBytes], [{ direction: 'received' }, blockExchange.receivedBytes]]
  })
  snapshotCounter(registry, 'distromash_bitswap_bytes_total', 'Bitswap stream payload bytes sent and received', ['direction'], () => {
    const { bitswap } = sources.traffic()
    return [[{ direction: 'sent' }, bitswap.sent], [{ direction: 'received' }, bitswap.received]]
  })
}
