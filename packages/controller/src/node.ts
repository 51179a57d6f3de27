import { mkdir } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  awaitingFetches, batchedPins, createMeshNode, localFirst, loadPeerstore, loadSwarmKey, providingPins, swarmFetch, type MeshNode, type Peer, type SwarmKey
} from '@distromash/p2pcomm'
import {
  familiarName, createImporter, createRegistry, createRegistryClient, datastoreDigestIndex,
  leafSkippingWalker, type Catalog, type ImportedImage, type Registry
} from '@distromash/multiplatform2ipfs'
import type { GraphWalkerFactory, Pins } from '@helia/interface'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { createApp } from './api/app.js'
import type { ApiDeps } from './api/deps.js'
import { imageRoutes } from './api/images.js'
import { replicationRoutes } from './api/replication.js'
import { strategyRoutes } from './api/strategies.js'
import type { Config } from './config.js'
import { ImportJobs } from './images/jobs.js'
import { dockerodeEngine } from './reconciler/docker.js'
import { PinSet } from './reconciler/pin-set.js'
import { Reconciler } from './reconciler/reconciler.js'
import { Assigner } from './strategies/assigner.js'
import { StrategyService } from './strategies/service.js'
import { describeAuthorization, loadWriters, recordsCatalog, Records, RECORD_SCHEMAS, writePolicy, type WriteAuthorization } from './records/index.js'
import { VERSION } from './version.js'

export interface RunningNode {
  mesh: MeshNode
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
  const swarmKey = await readSwarmKey(config)
  const peerstore = await loadPeerstore(config.peerstore)
  for (const err of peerstore.errors) log.warn(`${config.peerstore} ${err.message} (skipped)`)
  const writers = await readWriters(config, log)

  const docker = dockerodeEngine(config.dockerHost)
  const hasDocker = await docker.platform() != null
  let ready = false
  let apiPort: number | undefined
  const mesh = await createMeshNode({
    dataDir: config.dataDir,
    listen: config.listen,
    bootstrap: peerstore.addrs,
    swarmKey,
    forcePnet: config.forcePnet,
    recordSchemas: RECORD_SCHEMAS,
    policy: writePolicy(writers),
    log,
    self: () => ({ version: VERSION, apiPort, registryPort: config.registryPort, docker: hasDocker })
  })
  const authorization = describeAuthorization(writers, mesh.peerId)
  if (!authorization.enabled) log.warn('write authorization: off (no writers file): every holder of the swarm key may change what every host pulls')
  const stack: Array<() => Promise<void>> = [async () => { await mesh.stop() }]
  const stopAll = async (): Promise<void> => { for (const stop of stack.reverse()) await stop().catch(err => { log.warn({ err: (err as Error).message }, 'stop failed') }) }
  try {
    const records = new Records(mesh.store, mesh.peerId)
    const catalog = recordsCatalog(records)
    const digestIndex = datastoreDigestIndex(mesh.helia.datastore)
    // one queue for every pin change; a pin with a walker records its blocks in batches
    // and what is pinned is announced on the DHT (Kubo and bitswap find this node by CID)
    const heliaPins = providingPins(batchedPins({
      pins: mesh.helia.pins, datastore: mesh.helia.datastore, blockstore: mesh.helia.blockstore, getCodec: mesh.helia.getCodec, localBlockstore: mesh.localBlockstore
    }), mesh.providers)
    const pins = new PinSet(heliaPins)
    // an import, and the reconciler after a fetch, pin a DAG whose leaves were just verified and
    // stored: read only its dag-pb nodes and check the leaves are there, not re-read every 256 KiB
    const verifiedPins = new PinSet(withWalker(heliaPins, leafSkippingWalker()))
    const jobs = imageJobs(config, mesh, catalog, digestIndex, verifiedPins, log)

    const registry = await startRegistry(config, mesh, catalog, digestIndex, pins, log)
    stack.push(async () => { await registry.close() })

    const livePeers = livePeersWithin(mesh, config.gracePeriod * 1000)
    const assigner = new Assigner({
      peerId: mesh.peerId, records, livePeers, graceMs: config.gracePeriod * 1000, log, isWriter: peer => writers == null || writers.has(peer)
    })
    assigner.start()
    stack.push(async () => { assigner.stop() })
    const reconciler = new Reconciler({
      peerId: mesh.peerId, records, resolve: async n => catalog.get(n), blockstore: mesh.helia.blockstore,
      swarmFetch: async (cids, swarm, options) => swarmFetch(mesh.blocks, cids, swarm, options),
      pins: verifiedPins, docker, registry: `127.0.0.1:${config.registryPort}`, log
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
      deps: apiDeps(mesh, records, authorization, () => ready),
      apiToken: config.apiToken,
      allowedHosts: config.allowedHosts,
      version: VERSION,
      log,
      jobs,
      webRoot: fileURLToPath(new URL('../../web/dist/', import.meta.url)),
      routes: [
        imageRoutes({ jobs, images: async () => catalog.list(), pin: async (cid, signal) => { await pins.add(cid, `api:${cid.toString()}`, { signal }) }, pins: async () => pins.list(), denies: () => records.deniesDesiredState() }),
        strategyRoutes(strategies),
        replicationRoutes(records, livePeers)
      ]
    })
    const server = createServer(app)
    await listen(server, config.apiPort, config.apiHost)
    stack.push(async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) })
    apiPort = portOf(server) ?? config.apiPort
    const apiUrl = `http://${config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost}:${apiPort}`
    ready = true
    printBanner(out, mesh, swarmKey, apiUrl, config, peerstore.addrs.length, hasDocker, authorization)
    return { mesh, api: server, apiUrl, registryPort: config.registryPort, stop: async () => { ready = false; await stopAll() } }
  } catch (err) {
    await stopAll()
    throw err
  }
}

function imageJobs (config: Config, mesh: MeshNode, catalog: Catalog, digestIndex: ReturnType<typeof datastoreDigestIndex>, pins: PinSet, log: Logger): ImportJobs {
  const client = createRegistryClient({ upstream: config.upstream })
  // Straight into the pack blockstore under Helia's: no GC lock (Helia's GC is never run here) and no
  // bitswap announcement per block (peers learn of an image from its catalog record, written after
  // the import). It writes a block out and keeps no reference to it: an import may reuse a block's
  // buffer once its put has resolved
  const importer = createImporter({ client, blockstore: mesh.localBlockstore, digestIndex }, { reusePieces: true })
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

async function startRegistry (config: Config, mesh: MeshNode, catalog: Catalog, digestIndex: ReturnType<typeof datastoreDigestIndex>, pins: PinSet, log: Logger): Promise<Registry> {
  const uploadsDir = join(config.dataDir, 'uploads')
  await mkdir(uploadsDir, { recursive: true })
  const registry = createRegistry({
    // a pull of an image still replicating here waits for its blocks instead of asking every peer;
    // blocks held here are read from the pack blockstore directly (server CPU per 288 MiB pull
    // 1.04 → 0.61 s, bench/registry)
    blockstore: awaitingFetches(localFirst(mesh.helia.blockstore, mesh.localBlockstore), mesh.blocks),
    digestIndex,
    catalog,
    uploadsDir,
    log,
    pins: { add: async (cid: CID) => { await pins.add(cid, `push:${cid.toString()}`) } }
  }, { importedBy: mesh.peerId, allowedHosts: config.allowedHosts, maxUploadSessions: config.maxUploadSessions, maxUploadBytes: config.maxUploadSize, diskReserveBytes: config.minFreeDisk })
  await registry.listen(config.registryPort, config.registryHost)
  return registry
}

/** Helia's pins, walking DAGs with `walker` instead of the default (which reads every block). */
function withWalker (pins: Pins, walker: GraphWalkerFactory): Pins {
  return {
    add: (cid, options) => pins.add(cid, { walker, ...options }),
    rm: (cid, options) => pins.rm(cid, { walker, ...options }),
    ls: options => pins.ls(options),
    isPinned: async (cid, options) => pins.isPinned(cid, options),
    get: async (cid, options) => pins.get(cid, options),
    setMetadata: async (cid, metadata, options) => { await pins.setMetadata(cid, metadata, options) }
  }
}

function livePeersWithin (mesh: MeshNode, graceMs: number): () => Promise<string[]> {
  return async () => {
    const now = Date.now()
    // first-hand only: a peer counts for replicas and coordination when this node itself had a
    // connection to it within the grace period; identities merely announced through the mesh
    // (which anyone holding the swarm key can mint by the thousand) never do
    const live = (p: Peer): boolean => p.self || p.connected || (p.lastConnected != null && now - Date.parse(p.lastConnected) < graceMs)
    return (await mesh.peers.list()).filter(live).map(p => p.id).sort()
  }
}

function printBanner (out: (line: string) => void, mesh: MeshNode, swarmKey: SwarmKey | undefined, apiUrl: string, config: Config, bootstrap: number, docker: boolean, authorization: WriteAuthorization): void {
  out(`DistroMash node ${VERSION}`)
  out(`peer id: ${mesh.peerId}`)
  for (const addr of mesh.multiaddrs()) out(`listening: ${addr}`)
  out(`private network: ${swarmKey != null ? `on (${swarmKey.fingerprint})` : 'off'}`)
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

function apiDeps (mesh: MeshNode, records: Records, authorization: WriteAuthorization, ready: () => boolean): ApiDeps {
  return {
    records,
    identity: () => ({ peerId: mesh.peerId, addrs: mesh.multiaddrs(), privateNetwork: mesh.privateNetwork, version: VERSION, writeAuthorization: authorization }),
    peers: async () => mesh.peers.list(),
    stats: () => mesh.stats(),
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
