import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import type { CreateLibp2pOptions, HeliaWithLibp2p } from '@helia/libp2p'
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import { identify, identifyPush, type Identify, type IdentifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { LevelDatastore } from 'datastore-level'
import type { Blockstore } from 'interface-blockstore'
import type { Logger } from 'pino'
import type { Announcement } from './announcement.js'
import { PackBlockstore } from './blockstore/pack-blockstore.js'
import type { CollectableBlockstore } from './disk/collectable.js'
import { BlockExchange } from './blocks/exchange.js'
import { BootstrapKeeper } from './bootstrap.js'
import { AMINO_DHT_PROTOCOL, ANNOUNCE_TOPIC, BITSWAP_PROTOCOLS, DHT_PROTOCOL, LAN_DHT_PROTOCOL, STORE_TOPIC } from './constants.js'
import { PrivateNetworkRequiredError } from './errors.js'
import { createHeliaLight, withLibp2pLight } from './helia.js'
import { noiseCrypto } from './noise-crypto.js'
import { loadOrCreatePeerKey } from './peer-key.js'
import { PeerDirectory } from './peers.js'
import { ProtocolByteCounter, type ProtocolBytes } from './protocol-bytes.js'
import { Providers, type ProviderStats } from './providers.js'
import { DurableStore } from './store/durable-store.js'
import { RecordValidator, type RecordSchema } from './store/records.js'
import type { StoreStats, WritePolicy } from './store/store.js'
import { StoreReplicator } from './store/sync-protocol.js'
import type { SwarmKey } from './swarm-key.js'

export interface MeshNodeInit {
  dataDir: string
  /** Swarm listen multiaddrs, e.g. /ip4/0.0.0.0/tcp/4001 */
  listen: string[]
  bootstrap: Multiaddr[]
  swarmKey?: SwarmKey
  /** Refuse to start without a swarm key (also LIBP2P_FORCE_PNET=1, resolved by the caller) */
  forcePnet?: boolean
  recordSchemas?: RecordSchema[]
  /** Who may write which key (default: every peer, every key) */
  policy?: WritePolicy
  /** What this node announces about itself, read at every announcement */
  self: () => Omit<Announcement, 'addrs'>
  log: Logger
  announceIntervalMs?: number
  syncIntervalMs?: number
  /** Dial peers heard of through the mesh while below this many connections (default 64) */
  targetConnections?: number
  /**
   * The blocks the block exchange serves to peers (default: the pack blockstore). A node whose
   * content lives in Kubo serves what its Kubo holds (p2pcomm's heldBlocks over its Content).
   */
  served?: Pick<Blockstore, 'get' | 'has' | 'put'>
  /** Asked before every new block is stored: throws DiskFullError to refuse it (the node's disk budget) */
  admitBlocks?: (bytes: number) => void
}

export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  /**
   * A peer's protocols as they change, not only as they were at connect. Kubo identifies a
   * bootstrap connection before it registers bitswap and pushes the change moments later:
   * without this, Helia's bitswap never learnt that Kubo speaks it, and a pull by CID from a
   * Kubo that had just connected sent its wants elsewhere until the connection was redialled.
   */
  identifyPush: IdentifyPush
  ping: Ping
  pubsub: GossipSub
  /** The mesh's DHT: Kubo's LAN DHT protocol in a private network, our own prefix outside one */
  dht: KadDHT
  /** In a private network only: Kubo's WAN (Amino) DHT protocol, for members with public addresses */
  aminoDht?: KadDHT
}
export type MeshHelia = HeliaWithLibp2p<MeshServices>

/** Messages and bytes this node exchanged since start, for metrics: plain counters, no labels */
export interface MeshTraffic {
  /** Gossip messages received from neighbours (before validation) and published here, by topic */
  gossip: { records: { in: number, out: number }, announcements: { in: number, out: number } }
  /** Records sync messages received and sent (as puller and as answerer) */
  sync: { in: number, out: number }
  /** Block exchange: verified block bytes received, block bytes sent, requests that failed */
  blockExchange: { sentBytes: number, receivedBytes: number, failedRequests: number }
  /** Bitswap streams' payload bytes */
  bitswap: ProtocolBytes
}

export interface MeshNode {
  readonly peerId: string
  readonly privateNetwork: boolean
  readonly libp2p: Libp2p<MeshServices>
  readonly helia: MeshHelia
  readonly store: DurableStore
  readonly peers: PeerDirectory
  /** Fetch blocks from chosen peers (swarmFetch), alongside Helia's bitswap */
  readonly blocks: BlockExchange
  /** The blocks stored here (Helia's blockstore ends in it): no network, no Helia GC lock; collectable (disk/) */
  readonly localBlockstore: Blockstore & CollectableBlockstore
  /** DHT provider records for what this node pins (see providingPins) */
  readonly providers: Providers
  /** Listen addresses with /p2p/<peer id> */
  multiaddrs (): string[]
  stats (): { store: StoreStats, droppedAnnouncements: number, connections: number, providers: ProviderStats }
  traffic (): MeshTraffic
  stop (): Promise<void>
}

/** Build and start one mesh node: libp2p + Helia on one host, the replicated store, the peer list. */
export async function createMeshNode (init: MeshNodeInit): Promise<MeshNode> {
  if (init.forcePnet === true && init.swarmKey == null) {
    throw new PrivateNetworkRequiredError('private network is forced (force-pnet / LIBP2P_FORCE_PNET) but no swarm key was given')
  }
  await mkdir(init.dataDir, { recursive: true })
  const privateKey = await loadOrCreatePeerKey(join(init.dataDir, 'peer.key'))
  const datastore = new LevelDatastore(join(init.dataDir, 'datastore'))
  // blocks appended to pack files, older blockstore-fs files still read (see blockstore/pack-blockstore.ts)
  const blockstore = new PackBlockstore(join(init.dataDir, 'blocks'), { log: init.log, admit: init.admitBlocks })
  await datastore.open()
  await blockstore.open()

  const bitswapBytes = new ProtocolByteCounter(BITSWAP_PROTOCOLS)
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ datastore, blockstore }), { ...libp2pOptions(init, privateKey), metrics: () => bitswapBytes }))
  await helia.start()
  const libp2p = helia.libp2p as Libp2p<MeshServices>

  const store = await DurableStore.open({ datastore, privateKey, validator: new RecordValidator(init.recordSchemas), policy: init.policy })
  const migrated = await store.migrateV1()
  if (migrated != null) {
    init.log.warn({ resigned: migrated.resigned, leftToAuthors: migrated.leftToAuthors.length, keys: migrated.leftToAuthors.slice(0, 20) },
      'migrated the unsigned store of an older version: records this node may sign are re-signed, the others wait for their authors')
  }
  const replicator = new StoreReplicator({ libp2p, store, log: init.log, syncIntervalMs: init.syncIntervalMs })
  await replicator.start()
  const peers = new PeerDirectory({ libp2p, log: init.log, self: init.self, announceIntervalMs: init.announceIntervalMs, targetConnections: init.targetConnections })
  peers.start()
  const blocks = new BlockExchange({ libp2p, blockstore: init.served ?? blockstore, log: init.log })
  await blocks.start()
  const keeper = new BootstrapKeeper(libp2p, init.bootstrap, init.log)
  keeper.start()
  const providers = new Providers({ libp2p, blockstore, log: init.log, yieldTo: () => blocks.transferring() })

  return {
    peerId: libp2p.peerId.toString(),
    privateNetwork: init.swarmKey != null,
    libp2p,
    helia: helia as MeshHelia,
    store,
    peers,
    blocks,
    localBlockstore: blockstore,
    providers,
    multiaddrs: () => libp2p.getMultiaddrs().map(a => a.toString()),
    stats: () => ({ store: store.stats(), ...peers.stats(), connections: libp2p.getConnections().length, providers: providers.stats() }),
    traffic: () => {
      const records = replicator.messages()
      return {
        gossip: { records: { in: records.gossipIn, out: records.gossipOut }, announcements: peers.gossipMessages() },
        sync: { in: records.syncIn, out: records.syncOut },
        blockExchange: blocks.stats(),
        bitswap: bitswapBytes.bytes()
      }
    },
    async stop () {
      // reverse order of start; the stores close last because everything above writes to them
      providers.stop()
      keeper.stop()
      await blocks.stop()
      peers.stop()
      await replicator.stop()
      await store.close()
      await helia.stop()
      await blockstore.close()
      await datastore.close()
    }
  }
}

/**
 * Gossipsub peer scoring, tuned for a quiet private mesh: a peer that sends invalid messages
 * (bad signatures, malformed records: nothing an honest relay forwards, since every node verifies
 * before forwarding) loses score fast and is graylisted after a few, so its further messages are
 * not even decoded; the score decays back within a minute. Everything that would punish honest
 * peers here is off: few messages per topic (mesh delivery deficits), many peers behind one
 * address (IP colocation: tests and namespaces share 127.0.0.1 or a NAT).
 */
function gossipScoring (): Pick<GossipsubOpts, 'scoreParams' | 'scoreThresholds'> {
  const topic = {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 0,
    firstMessageDeliveriesDecay: 0.5,
    firstMessageDeliveriesCap: 2000,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 20,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    invalidMessageDeliveriesWeight: -10,
    invalidMessageDeliveriesDecay: 0.9
  }
  return {
    scoreParams: { topics: { [STORE_TOPIC]: topic, [ANNOUNCE_TOPIC]: topic }, IPColocationFactorWeight: 0, topicScoreCap: 10 },
    scoreThresholds: { gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80 }
  }
}

const PING_TIMEOUT_MS = 30_000
const PING_STREAMS = 4

function libp2pOptions (init: MeshNodeInit, privateKey: PrivateKey): CreateLibp2pOptions<MeshServices> {
  return {
    privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    ...(init.swarmKey != null ? { connectionProtector: preSharedKey({ psk: init.swarmKey.file }) } : {}),
    connectionManager: {
      // the defaults (5 inbound/s per IP, 10 pending) drop the 6th of 20 nodes bootstrapping to one peer
      inboundConnectionThreshold: 200,
      maxIncomingPendingConnections: 200,
      maxConnections: 400
    },
    // The monitor pings every connection each 10 s and aborts it when a ping takes over 5 s; the
    // ping handler gives up after 10 s. A ping queues behind the block data already written to
    // the socket, so on a saturated link it took longer and connections died mid-transfer
    // (bench/distribution at 25 Mbit/s: every stream to the seed failed at once, each 10 s).
    // Both now wait 30 s; a dead peer is still dropped, and a crashed process closes its
    // sockets at once anyway. Pings still go out every 10 s, so up to 3 may be open at once:
    // the ping spec's one-stream rule is relaxed (a peer may still hold at most 4 ping streams
    // with us), as with a limit of 1 the overlap itself counted as a ping failure.
    connectionMonitor: { pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: PING_TIMEOUT_MS } },
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping({ timeout: PING_TIMEOUT_MS, maxOutboundStreams: PING_STREAMS, maxInboundStreams: PING_STREAMS }),
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true, emitSelf: false, ...gossipScoring() }),
      ...dhtServices(init.swarmKey != null)
    }
  }
}

/**
 * Inside a private network the mesh speaks Kubo's DHT protocols, so a Kubo given the swarm key
 * finds DistroMash nodes as providers (the key already isolates the network: nobody outside it
 * can open a connection, let alone a DHT stream). Kubo runs two: the LAN DHT, which keeps peers
 * with private and loopback addresses, and the Amino (WAN) DHT, which keeps peers with public
 * addresses; a mesh on a LAN meets Kubo on the first, hosts with public addresses on the second.
 * Both keep every address here: which ones count is each Kubo's own filter (stripping them here
 * left the Amino table empty on a LAN, and its queries waiting for peers that never came).
 * Outside a private network the mesh keeps its own prefix, so it never joins the public IPFS DHT.
 */
function dhtServices (privateNetwork: boolean): Pick<NonNullable<CreateLibp2pOptions<MeshServices>['services']>, 'dht' | 'aminoDht'> {
  // LAN and loopback addresses are the point of a private mesh: keep them (the default mapper strips them)
  if (!privateNetwork) return { dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }) }
  return {
    dht: kadDHT({ protocol: LAN_DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }),
    aminoDht: kadDHT({
      protocol: AMINO_DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      logPrefix: 'libp2p:dht-amino',
      datastorePrefix: '/dht-amino',
      metricsPrefix: 'libp2p_dht_amino'
    })
  }
}
