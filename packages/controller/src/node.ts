import { mkdir } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  collectedContent, collector as garbageCollector, constants, contentBlockstore, createMeshNode, embeddedContent, heldBlocks, kuboContent, KuboPeering, type KuboPeer, loadPeerstore, loadSwarmKey, pinnedBlocks,
  type Collector, type Content, type MeshNode, type Peer, type SwarmKey
} from '@distromash/p2pcomm'
import {
  familiarName, createImporter, datastoreReferrersIndex, createRegistry, createRegistryClient, datastoreDigestIndex,
  leafSkippingWalker, type Catalog, type ImportedImage, type Registry, type RequestObserver
} from '@distromash/multiplatform2ipfs'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { createApp } from './api/app.js'
import type { ApiDeps } from './api/deps.js'
import { resourceRoutes } from './api/resources.js'
import type { Config } from './config.js'
import { ImportJobs } from './images/jobs.js'
import { DiskBudget, ImageCache, measureDisk, touchingCatalog, type DiskMeasure } from './disk/index.js'
import { createNodeMetrics, type NodeMetrics } from './metrics/index.js'
import { dockerodeEngine } from './reconciler/docker.js'
import { PinSet } from './reconciler/pin-set.js'
import { Reconciler } from './reconciler/reconciler.js'
import { Assigner } from './strategies/assigner.js'
import { StrategyService } from './strategies/service.js'
import { describeAuthorization, loadWriters, recordsCatalog, Records, RECORD_SCHEMAS, writePolicy, type WriteAuthorization } from './records/index.js'
import { VERSION } from './version.js'
import { meshFirst, peersFirst } from './mesh-first.js'

/** A node that has received no block for this long and answers peers is serving them, not passing blocks on */
const ONLY_SERVING_AFTER_MS = 30_000

export interface RunningNode {
  mesh: MeshNode
  content: Content
  api: Server
  apiUrl: string
  registryPort: number
  stop (): Promise<void>
}


/**
 * The composition root: builds every part of a node from the config, and stops them in
 * reverse order. Nothing else constructs dependencies.
 */
export async function startNode (config: Config, log: Logger, out: (line: string) => void): Promise<RunningNode> {
  // a Kubo beside the node must answer before anything starts: one clear line, exit 2, if not
  const kubo = config.ipfsApi == null ? undefined : kuboContent({ url: config.ipfsApi })
  await kubo?.stat({ signal: AbortSignal.timeout(10_000) }).catch((err: Error) => {
    throw new ContentBackendError(`--ipfs-api: ${err.name === 'TimeoutError' ? `Kubo API at ${config.ipfsApi ?? ''} did not answer in 10 s` : err.message}`)
  })
  // its Kubo is announced to the mesh, and peered with the mesh's nodes and Kubos (kubo-peering.ts)
  const peering: KuboPeering | undefined = config.ipfsApi == null
    ? undefined
    : new KuboPeering({ url: config.ipfsApi, log, peers: async (): Promise<KuboPeer[]> => kuboPeers(await mesh.peers.list(), ipfs) })
  const ipfs: KuboPeer | undefined = await peering?.identity().catch((err: Error) => { throw new ContentBackendError(`--ipfs-api: Kubo's identity: ${err.message}`) })
  const swarmKey = await readSwarmKey(config)
  const peerstore = await loadPeerstore(config.peerstore)
  for (const err of peerstore.errors) log.warn(`${config.peerstore} ${err.message} (skipped)`)
  const writers = await readWriters(config, log)

  const docker = dockerodeEngine(config.dockerHost)
  const hasDocker = await docker.platform() != null
  let ready = false
  let apiPort: number | undefined
  // every new block asks the disk budget first (--max-disk); it is built once the content is
  let disk: DiskBudget | undefined
  const mesh = await createMeshNode({
    dataDir: config.dataDir,
    listen: config.listen,
    bootstrap: peerstore.addrs,
    swarmKey,
    forcePnet: config.forcePnet,
    recordSchemas: RECORD_SCHEMAS,
    policy: writePolicy(writers),
    // peers asking this node's block exchange get what its Kubo holds
    ...(kubo != null ? { served: heldBlocks(kubo) } : {}),
    admitBlocks: bytes => { disk?.admit(bytes) },
    log,
    self: () => ({ version: VERSION, apiPort, registryPort: config.registryPort, docker: hasDocker, ...(ipfs != null ? { ipfs } : {}) })
  })
  const authorization = describeAuthorization(writers, mesh.peerId)
  if (!authorization.enabled) log.warn('write authorization: off (no writers file): every holder of the swarm key may change what every host pulls')
  const stack: Array<() => Promise<void>> = [async () => { await mesh.stop() }]
  peering?.start()
  if (peering != null) stack.push(async () => { await peering.stop() })
  const stopAll = async (): Promise<void> => { for (const stop of stack.reverse()) await stop().catch(err => { log.warn({ err: (err as Error).message }, 'stop failed') }) }
  try {
    const records = new Records(mesh.store, mesh.peerId)
    const catalog = recordsCatalog(records)
    const digestIndex = datastoreDigestIndex(mesh.helia.datastore)
    // embedded: unpinned blocks are garbage, collected and compacted away (Kubo collects its own)
    const collector = kubo != null ? undefined : garbageCollector({ blockstore: mesh.localBlockstore, pinned: pinnedBlocks(mesh.helia.datastore) }, { graceMs: config.diskGcGrace * 1000 })
    const embedded = (): Content => embeddedContent({ helia: mesh.helia, localBlockstore: mesh.localBlockstore, exchange: mesh.blocks }, {
      // pins read only their dag-pb nodes and check that raw leaves are here (every block that
      // reached the pack blockstore was hashed on its way in), not re-read every 256 KiB
      walker: leafSkippingWalker(),
      // what is pinned is announced on the DHT (Kubo and bitswap find this node by CID); Kubo
      // announces what it holds itself
      onPinned: async (cid, options) => { await mesh.providers.announce(cid, options) },
      onUnpinning: async (cid, options) => { await mesh.providers.withdraw(cid, options) }
    })
    // writes, fetches and pins keep the collector off the blocks they have not pinned yet
    // (collector is defined whenever kubo is not)
    const content = kubo ?? collectedContent(embedded(), collector as Collector, cid => { mesh.localBlockstore.touch(cid) })
    const pins = await PinSet.open(content, mesh.helia.datastore)
    // with a budget, images no strategy assigns here any more stay as a cache, evicted least recently used
    const cache = config.maxDisk != null ? new ImageCache(mesh.helia.datastore, pins) : undefined
    // the block files and the uploads being received are counted live, the rest of the data dir by a walk
    const uploadsDir = join(config.dataDir, 'uploads')
    const countedLive = (path: string): boolean => path === uploadsDir || mesh.localBlockstore.countsFile(path)
    let registry: Registry | undefined
    disk = new DiskBudget({
      limitBytes: config.maxDisk,
      lowWatermark: config.diskLowWatermark / 100,
      highWatermark: config.diskHighWatermark / 100,
      // a sidecar's blocks are in its Kubo's repo: use is that and the data dir together
      measure: kubo == null ? async () => await measureDisk(config.dataDir, countedLive) : async () => await withKuboRepo(await measureDisk(config.dataDir, countedLive), kubo),
      collector,
      cache,
      blocks: () => mesh.localBlockstore.usage(),
      uploads: () => registry?.uploadBytes() ?? 0,
      log
    })
    await disk.start()
    const budget = disk
    stack.push(async () => { await budget.stop() })
    const metrics = nodeMetrics(mesh, records, budget, () => reconciler.queue())
    const jobs = imageJobs(config, mesh, content, catalog, digestIndex, pins, log)
    jobs.subscribe(metrics.importFinished)

    registry = await startRegistry(config, { uploadsDir, mesh, content, catalog: cache != null ? touchingCatalog(catalog, cache) : catalog, digestIndex, pins, disk: budget }, log, metrics.registryRequest)
    const started = registry
    stack.push(async () => { await started.close() })

    const livePeers = livePeersWithin(mesh, config.gracePeriod * 1000)
    const assigner = new Assigner({
      peerId: mesh.peerId, records, livePeers, graceMs: config.gracePeriod * 1000, log, isWriter: peer => writers == null || writers.has(peer)
    })
    assigner.start()
    stack.push(async () => { assigner.stop() })
    const reconciler = new Reconciler({
      peerId: mesh.peerId, records, resolve: async n => catalog.get(n), content,
      pins, docker, registry: `127.0.0.1:${config.registryPort}`, log, observer: metrics.replication, ...(cache != null ? { cache } : {}),
      // in Kubo sidecar mode peers fetch over Kubo's bitswap, which this count does not see: no wait there
      ...(content.backend.kind === 'embedded' ? { peersFirst: async (signal: AbortSignal) => { await peersFirst(() => mesh.blocks.stats().sentBytes, signal) } } : {})
    })
    await reconciler.start()
    stack.push(async () => { await reconciler.stop() })
    const strategies = new StrategyService({
      peerId: mesh.peerId, records, assigner, jobs, log,
      image: async n => catalog.get(n),
      nameOfCid: async cid => { const r = await catalog.byCid(cid); return r == null ? undefined : `${r.name}:${r.tag}` },
      knownPeers: async () => (await mesh.peers.list()).map(p => p.id)
    })

    const app = createApp({
      deps: apiDeps(mesh, content, records, authorization, () => ready, budget),
      apiToken: config.apiToken,
      allowedHosts: config.allowedHosts,
      version: VERSION,
      log,
      jobs,
      webRoot: fileURLToPath(new URL('../../web/dist/', import.meta.url)),
      routes: resourceRoutes({
        images: { jobs, images: async () => catalog.list(), pin: async (cid, signal) => { await pins.add(cid, `api:${cid.toString()}`, { signal }) }, pins: async () => pins.list(), denies: () => records.deniesDesiredState() },
        strategies,
        records,
        livePeers,
        metrics
      })
    })
    const server = createServer(app)
    await listen(server, config.apiPort, config.apiHost)
    stack.push(async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) })
    apiPort = portOf(server) ?? config.apiPort
    const apiUrl = `http://${config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost}:${apiPort}`
    ready = true
    printBanner(out, mesh, content, swarmKey, apiUrl, config, peerstore.addrs.length, hasDocker, authorization)
    return { mesh, content, api: server, apiUrl, registryPort: config.registryPort, stop: async () => { ready = false; await stopAll() } }
  } catch (err) {
    await stopAll()
    throw err
  }
}

function imageJobs (config: Config, mesh: MeshNode, content: Content, catalog: Catalog, digestIndex: ReturnType<typeof datastoreDigestIndex>, pins: PinSet, log: Logger): ImportJobs {
  const client = createRegistryClient({ upstream: config.upstream })
  // Each import writes through one content writer (embedded: the pack blockstore, puts side by side;
  // Kubo: one streamed dag import). The importer derived every CID from its bytes itself (hashed),
  // and a writer keeps no reference to a block once its put has resolved: buffers are reused
  const importer = createImporter({ client, blockstore: contentBlockstore(content), digestIndex, writer: () => content.writer({ hashed: true }) }, { reusePieces: true })
  return new ImportJobs({
    importer,
    log,
    onImported: async (image: ImportedImage) => {
      // the importing node holds every platform: it is the mesh's first source of the image
      await pins.add(image.cid, `import:${image.cid.toString()}`)
      await catalog.record({
        name: familiarName(image.reference),
        tag: image.reference.tag ?? 'latest',
        cid: image.cid.toString(),
        digest: image.digest,
        mediaType: image.mediaType,
        platforms: image.platforms,
        size: image.size,
        source: image.reference.registry,
        importedBy: mesh.peerId,
        at: new Date().toISOString()
      })
    }
  })
}

/** What the registry is built from: the node's content, records and budget */
interface RegistryParts {
  uploadsDir: string
  mesh: MeshNode
  content: Content
  catalog: Catalog
  digestIndex: ReturnType<typeof datastoreDigestIndex>
  pins: PinSet
  disk: DiskBudget
}

async function startRegistry (config: Config, { uploadsDir, mesh, content, catalog, digestIndex, pins, disk }: RegistryParts, log: Logger, onRequest: RequestObserver): Promise<Registry> {
  await mkdir(uploadsDir, { recursive: true })
  const registry = createRegistry({
    // embedded: a pull of an image still replicating here waits for its blocks, and blocks held
    // here are read from the pack blockstore directly (see embeddedContent); Kubo: block/get
    blockstore: contentBlockstore(content),
    // an uploaded blob's blocks in one bulk write (Kubo: one dag import, not a block/put per block)
    writer: () => content.writer(),
    // a pushed blob past --max-disk is refused whole, before any of its blocks is written
    admit: bytes => { disk.admit(bytes) },
    // while its peers depend on it alone, the local engine's pull does not take their CPU
    pace: meshFirst(() => mesh.blocks.onlyServing(ONLY_SERVING_AFTER_MS)),
    digestIndex,
    catalog,
    uploadsDir,
    log,
    // which manifests refer to which (OCI referrers API), kept across restarts
    referrers: datastoreReferrersIndex(mesh.helia.datastore),
    pins: { add: async (cid: CID) => { await pins.add(cid, `push:${cid.toString()}`) } }
  }, { importedBy: mesh.peerId, allowedHosts: config.allowedHosts, maxUploadSessions: config.maxUploadSessions, maxUploadBytes: config.maxUploadSize, diskReserveBytes: config.minFreeDisk, onRequest })
  await registry.listen(config.registryPort, config.registryHost)
  return registry
}

/**
 * Whom a sidecar's Kubo peers with: every live DistroMash node of the mesh (this one too) and every
 * Kubo another sidecar node announces, but not itself
 */
function kuboPeers (peers: Peer[], own: KuboPeer | undefined): KuboPeer[] {
  const out: KuboPeer[] = []
  const bare = (addr: string): string => addr.replace(/\/p2p\/[^/]+$/, '')
  for (const p of peers) {
    if (!p.live || p.announcement == null) continue
    out.push({ id: p.id, addrs: p.announcement.addrs.map(bare) })
    const kubo = p.announcement.ipfs
    if (kubo != null && kubo.id !== own?.id) out.push({ id: kubo.id, addrs: kubo.addrs })
  }
  return out
}

function livePeersWithin (mesh: MeshNode, graceMs: number): () => Promise<string[]> {
  return async () => {
    const now = Date.now()
    // first-hand only: a peer counts for replicas and coordination when this node itself had a
    // connection to it within the grace period; identities merely announced through the mesh
    // (which anyone holding the swarm key can mint by the thousand) never do
    const recent = (p: Peer): boolean => p.connected || (p.lastConnected != null && now - Date.parse(p.lastConnected) < graceMs)
    const candidates = (await mesh.peers.list()).filter(p => p.self || recent(p))
    const speaksSync = await syncSpeakers(mesh, candidates.filter(p => !p.self && p.announcement == null))
    return candidates.filter(p => p.self || p.announcement != null || speaksSync.has(p.id)).map(p => p.id).sort()
  }
}

/**
 * Another IPFS node of the private network (a Kubo) is a peer but never a replica: a DistroMash
 * node has announced itself, or (just connected, before its first announcement) speaks the
 * records' sync protocol, as identify told libp2p. One read of the peer store for all of them.
 */
async function syncSpeakers (mesh: MeshNode, unannounced: Peer[]): Promise<Set<string>> {
  if (unannounced.length === 0) return new Set()
  const connected = new Set(mesh.libp2p.getPeers().map(p => p.toString()))
  const wanted = new Set(unannounced.map(p => p.id).filter(id => connected.has(id)))
  const known = wanted.size === 0 ? [] : await mesh.libp2p.peerStore.all({ filters: [p => wanted.has(p.id.toString())] }).catch(() => [])
  return new Set(known.filter(p => p.protocols.includes(constants.STORE_SYNC_PROTOCOL)).map(p => p.id.toString()))
}

function printBanner (out: (line: string) => void, mesh: MeshNode, content: Content, swarmKey: SwarmKey | undefined, apiUrl: string, config: Config, bootstrap: number, docker: boolean, authorization: WriteAuthorization): void {
  out(`DistroMash node ${VERSION}`)
  out(`peer id: ${mesh.peerId}`)
  for (const addr of mesh.multiaddrs()) out(`listening: ${addr}`)
  out(`private network: ${swarmKey != null ? `on (${swarmKey.fingerprint})` : 'off'}`)
  out(`content: ${content.backend.description}`)
  out(`write authorization: ${authorization.summary}`)
  out(`registry: http://${config.registryHost}:${config.registryPort}`)
  out(`docker: ${docker ? (config.dockerHost ?? 'local socket') : 'none (images are pinned only)'}`)
  out(`bootstrap peers: ${bootstrap}`)
  out(`api: ${apiUrl}`)
}

async function readSwarmKey (config: Config): Promise<SwarmKey | undefined> {
  return config.swarmKeyPath == null ? undefined : loadSwarmKey(config.swarmKeyPath)
}

/** The writers file, when there is one; a malformed line is reported with its number and skipped */
async function readWriters (config: Config, log: Logger): Promise<Set<string> | undefined> {
  if (config.writersPath == null) return undefined
  let file
  try {
    file = await loadWriters(config.writersPath)
  } catch (err) {
    throw new WritersFileError(`cannot read the writers file ${config.writersPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  for (const e of file.errors) log.warn(`${config.writersPath}:${e.line}: ${e.message} (skipped)`)
  if (file.writers.size === 0) log.warn(`${config.writersPath} names no writer: no node can change desired state`)
  return file.writers
}

export class WritersFileError extends Error {
  override name = 'WritersFileError'
}

/** The content backend given (a Kubo API) cannot be used at start */
export class ContentBackendError extends Error {
  override name = 'ContentBackendError'
}

/** GET /metrics: read from the mesh node, the records and the reconciler at each scrape */
/** Kubo's repo size added to the data dir's; a Kubo that does not answer adds nothing (its status says why) */
async function withKuboRepo (dataDir: DiskMeasure, kubo: Content): Promise<DiskMeasure> {
  const repo = await kubo.stat().catch(() => ({ bytes: 0 }))
  return { ...dataDir, usedBytes: dataDir.usedBytes + repo.bytes }
}

function nodeMetrics (mesh: MeshNode, records: Records, disk: DiskBudget, reconcileQueue: () => { waiting: number, running: number }): NodeMetrics {
  return createNodeMetrics({
    version: VERSION,
    peers: async () => mesh.peers.list(),
    stats: () => mesh.stats(),
    traffic: () => mesh.traffic(),
    storeKeys: async () => (await records.entries()).map(e => e.key),
    replicationStates: async () => (await records.statuses(mesh.peerId)).map(s => s.state),
    reconcileQueue,
    // the data dir as the disk budget measures it; limit 0 without --max-disk
    disk: async () => { const { usedBytes, limitBytes } = disk.stats(); return { usedBytes, limitBytes: limitBytes ?? 0 } }
  })
}

function apiDeps (mesh: MeshNode, content: Content, records: Records, authorization: WriteAuthorization, ready: () => boolean, disk: DiskBudget): ApiDeps {
  const { kind, description } = content.backend
  const backend = content.backend.kind === 'kubo' ? { kind, description, url: content.backend.url } : { kind, description }
  return {
    records,
    identity: () => ({ peerId: mesh.peerId, addrs: mesh.multiaddrs(), privateNetwork: mesh.privateNetwork, version: VERSION, writeAuthorization: authorization, content: backend }),
    peers: async () => mesh.peers.list(),
    stats: () => mesh.stats(),
    disk: () => disk.stats(),
    ready
  }
}

function portOf (server: Server): number | undefined {
  const address = server.address()
  return address != null && typeof address === 'object' ? address.port : undefined
}

async function listen (server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
}
