import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { MemoryStore } from '@distromash/p2pcomm'
import { createApp, type AppInit } from '../../src/api/app.js'
import type { ApiDeps } from '../../src/api/deps.js'
import { Records } from '../../src/records/index.js'
import { describeAuthorization } from '../../src/records/policy.js'

export interface TwinApi {
  server: Server
  url: string
  port: number
  close: () => Promise<void>
}

/**
 * The REST API over the in-memory store on a loopback port, no network node: an identity without
 * addresses, no peers, ready. `deps` and `init` replace what a test needs to drive itself.
 */
export async function startTwinApi (store: MemoryStore, deps: Partial<ApiDeps> = {}, init: Partial<AppInit> = {}): Promise<TwinApi> {
  const app = createApp({
    deps: {
      records: new Records(store, store.peerId),
      identity: () => ({ peerId: store.peerId, addrs: [], privateNetwork: false, version: 't', writeAuthorization: describeAuthorization(undefined, store.peerId), content: { kind: 'embedded', description: 'embedded (Helia)' } }),
      peers: async () => [],
      stats: () => ({ store: store.stats(), connections: 0, droppedAnnouncements: 0, providers: { announced: 0, failed: 0, queued: 0 } }),
      ready: () => true,
      ...deps
    },
    version: 't',
    log: { error: () => {} },
    ...init
  })
  const server = createServer(app)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) }
  }
}
