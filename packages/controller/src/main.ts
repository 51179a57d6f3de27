import { generateSwarmKey } from '@distromash/p2pcomm'
import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.js'
import { imageCommand } from './cli/image.js'
import { startNode } from './node.js'
import { VERSION } from './version.js'

const USAGE = `usage: distromash <command> [flags]

commands:
  node        start a node (libp2p mesh, embedded IPFS or a Kubo beside it, API)
  image add REF  import an image into the mesh through the local node (prints its CID)
  swarm-key   print a new private-network key (Kubo swarm.key format)
  version     print the version

node flags (also DISTROMASH_<FLAG> in the environment or .env):
  --data-dir DIR        default ./data/node
  --api-host H          default 127.0.0.1
  --api-port N          default 3000
  --api-token T         bearer token required by mutating endpoints (needed off loopback)
  --api-token-file F    the same token, read from the first line of a file
  --writers FILE        peers allowed to change desired state, one peer ID per line
                        (default <data-dir>/writers when present; none: every peer may)
  --swarm-port N        default 4001 (all interfaces)
  --swarm-listen MAS    comma-separated multiaddrs, overrides --swarm-port
  --registry-port N     default 5005 (127.0.0.1)
  --peerstore FILE      default data/peerstore
  --swarm-key FILE      default <data-dir>/swarm.key when present
  --force-pnet          refuse to start without a swarm key (also LIBP2P_FORCE_PNET=1)
  --docker-host URL     e.g. unix:///var/run/docker.sock
  --upstream URL        upstream registry, default Docker Hub
  --ipfs-api URL        keep content in this Kubo daemon (its RPC API, e.g.
                        http://127.0.0.1:5001) instead of the embedded IPFS node
  --registry-host H     default 127.0.0.1
  --allowed-hosts NAMES comma-separated host names the API and registry answer besides
                        IP addresses and localhost (DNS rebinding defence)
  --max-upload-sessions N  registry uploads open at once (default 256)
  --max-upload-size SIZE   bytes one registry upload may hold (default 16GiB)
  --min-free-disk SIZE     refuse registry uploads below this much free disk (default 1GiB)
  --grace-period S      seconds a silent peer keeps its replicas (default 60)
  --log-level L         default info`

/** The CLI. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'node': return runNode(rest)
    case 'image': return imageCommand(rest)
    case 'swarm-key': process.stdout.write(generateSwarmKey()); return 0
    case 'version': case '--version': console.log(VERSION); return 0
    case undefined: case 'help': case '--help': case '-h': console.log(USAGE); return command === undefined ? 2 : 0
    default: console.error(`distromash: unknown command "${command}" (try --help)`); return 2
  }
}

async function runNode (argv: string[]): Promise<number> {
  let config
  try {
    config = loadConfig(argv)
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`distromash: ${err.message}`); return 2 }
    throw err
  }
  const log = pino({ level: config.logLevel, base: undefined }, pino.destination(2))
  let node
  try {
    node = await startNode(config, log, line => { console.log(line) })
  } catch (err) {
    const e = err as Error & { code?: string }
    console.error(`distromash: ${describeStartError(e)}`)
    return ['SwarmKeyError', 'PrivateNetworkRequiredError', 'PeerKeyError', 'WritersFileError', 'ContentBackendError'].includes(e.name) ? 2 : 1
  }
  await waitForSignal()
  log.info('stopping')
  await node.stop()
  return 0
}

function describeStartError (e: Error & { code?: string, syscall?: string, port?: number }): string {
  if (e.code === 'EADDRINUSE') return `address in use (${e.message.replace(/^.*EADDRINUSE:?\s*/, '')})`
  if (e.code === 'ENOENT' && e.message.includes('swarm')) return `swarm key not found: ${e.message}`
  return e.message.split('\n')[0] ?? String(e)
}

async function waitForSignal (): Promise<void> {
  await new Promise<void>(resolve => {
    process.once('SIGINT', () => { resolve() })
    process.once('SIGTERM', () => { resolve() })
  })
}
