import { createServer, type Server } from 'node:http'
import {
  createMeshNode, loadPeerstore, loadSwarmKey, type MeshNode, type SwarmKey
} from '@distromash/p2pcomm'
import type { Logger } from 'pino'
import { createApp } from './api/app.js'
import type { ApiDeps } from './api/deps.js'
import type { Config } from './config.js'
import { VERSION } from './version.js'

export interface RunningNode {
  mesh: MeshNode
  api: Server
  apiUrl: string
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

  let ready = false
  let api: Server | undefined
  const mesh = await createMeshNode({
    dataDir: config.dataDir,
    listen: config.listen,
    bootstrap: peerstore.addrs,
    swarmKey,
    forcePnet: config.forcePnet,
    log,
    self: () => ({ version: VERSION, apiPort: apiPort(api), registryPort: config.registryPort, docker: false })
  })
  const deps = apiDeps(mesh, () => ready)
  const app = createApp({ deps, apiToken: config.apiToken, version: VERSION, log })
  const server = createServer(app)
  api = server
  try {
    await listen(server, config.apiPort, config.apiHost)
  } catch (err) {
    await mesh.stop()
    throw err
  }
  const apiUrl = `http://${config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost}:${apiPort(api) ?? config.apiPort}`
  ready = true

  out(`DistroMash node ${VERSION}`)
  out(`peer id: ${mesh.peerId}`)
  for (const addr of mesh.multiaddrs()) out(`listening: ${addr}`)
  out(`private network: ${swarmKey != null ? `on (${swarmKey.fingerprint})` : 'off'}`)
  out(`api: ${apiUrl}`)
  out(`bootstrap peers: ${peerstore.addrs.length}`)

  return {
    mesh,
    api: server,
    apiUrl,
    async stop () {
      ready = false
      await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
      await mesh.stop()
    }
  }
}

async function readSwarmKey (config: Config): Promise<SwarmKey | undefined> {
  return config.swarmKeyPath == null ? undefined : loadSwarmKey(config.swarmKeyPath)
}

function apiDeps (mesh: MeshNode, ready: () => boolean): ApiDeps {
  return {
    store: mesh.store,
    identity: () => ({ peerId: mesh.peerId, addrs: mesh.multiaddrs(), privateNetwork: mesh.privateNetwork, version: VERSION }),
    peers: async () => mesh.peers.list(),
    stats: () => mesh.stats(),
    ready
  }
}

function apiPort (server: Server | undefined): number | undefined {
  const address = server?.address()
  return address != null && typeof address === 'object' ? address.port : undefined
}

async function listen (server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
}
