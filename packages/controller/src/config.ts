import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseDotenv } from 'dotenv'
import { readFileSync } from 'node:fs'
import { z } from 'zod'

/**
 * One schema for the node's configuration. Sources, later ones winning:
 * defaults < .env file < environment (DISTROMASH_*) < command-line flags.
 */
const port = z.coerce.number().int().min(0).max(65535)
const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 }
/** A byte size: 1048576, 512MiB, 20GiB, 1.5GB */
const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(v))
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()]
  if (m == null || unit == null) {
    ctx.addIssue({ code: 'custom', message: 'must be a size like 1048576, 512MiB or 20GiB' })
    return z.NEVER
  }
  return Math.floor(Number(m[1]) * unit)
})
/** A share of --max-disk: 80 or 80% */
const percent = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(String(v))
  const value = Number(m?.[1])
  if (m == null || !(value > 0 && value <= 100)) {
    ctx.addIssue({ code: 'custom', message: 'must be a percentage of --max-disk above 0 and at most 100, like 80%' })
    return z.NEVER
  }
  return value
})
const bool = z.union([z.boolean(), z.enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off', ''])])
  .transform(v => v === true || v === '1' || v === 'true' || v === 'yes' || v === 'on')

export const ConfigSchema = z.object({
  dataDir: z.string().min(1).default('./data/node'),
  apiHost: z.string().min(1).default('127.0.0.1'),
  apiPort: port.default(3000),
  apiToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A file holding the API token (first line), for secrets kept out of the process list and environment */
  apiTokenFile: z.string().min(1).optional(),
  /** Peers allowed to write desired state, one peer ID per line; default <data-dir>/writers when present */
  writers: z.string().min(1).optional(),
  swarmPort: port.default(4001),
  /** Overrides swarmPort: comma-separated multiaddrs */
  swarmListen: z.string().optional(),
  registryHost: z.string().min(1).default('127.0.0.1'),
  /** Host names the API and registry answer besides IP addresses and localhost (DNS rebinding defence) */
  allowedHosts: z.string().optional(),
  /** Registry upload sessions open at once */
  maxUploadSessions: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Bytes one registry upload session may hold (one blob) */
  maxUploadSize: size.default(16 * 1024 ** 3),
  /** Registry uploads are refused while the data dir's disk has less free space than this */
  minFreeDisk: size.default(1024 ** 3),
  /** Bytes the data dir may take: garbage is collected and cached images evicted to stay within it */
  maxDisk: size.optional(),
  /** Percent of --max-disk: eviction stops below the low watermark and starts at the high one */
  diskLowWatermark: percent.default(80),
  diskHighWatermark: percent.default(90),
  /** Seconds a block stays safe from garbage collection after it is written (an import or fetch pins it when done) */
  diskGcGrace: z.coerce.number().int().min(0).max(86_400).default(600),
  registryPort: port.default(5005),
  peerstore: z.string().min(1).default('data/peerstore'),
  swarmKey: z.string().min(1).optional(),
  forcePnet: bool.default(false),
  dockerHost: z.string().regex(/^(unix|tcp|http|https|npipe):\/\//, 'must be a URL like unix:///var/run/docker.sock').optional(),
  upstream: z.url({ protocol: /^https?$/ }).optional(),
  /** Kubo's RPC API: content is kept in that daemon instead of the embedded Helia */
  ipfsApi: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of Kubo\'s RPC API, e.g. http://127.0.0.1:5001' })
    .refine(baseUrl, 'must be the API\'s base URL, e.g. http://127.0.0.1:5001 (no path, query or fragment)')
    .transform(u => u.replace(/\/(api\/v0\/?)?$/, ''))
    .optional(),
  /** Seconds a peer may be silent before strategies replace it */
  gracePeriod: z.coerce.number().int().min(1).max(86_400).default(60),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
}).strict()

/** The API's base URL: no path (or Kubo's own /api/v0), no query, no fragment */
function baseUrl (text: string): boolean {
  try {
    const url = new URL(text)
    return url.search === '' && url.hash === '' && ['/', '', '/api/v0', '/api/v0/'].includes(url.pathname)
  } catch {
    return false
  }
}

export type Config = Omit<z.infer<typeof ConfigSchema>, 'allowedHosts'> & { swarmKeyPath?: string, writersPath?: string, listen: string[], allowedHosts: string[] }

export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor (readonly setting: string, message: string) { super(`invalid setting ${setting}: ${message}`) }
}

const FLAGS = {
  'data-dir': 'dataDir',
  'api-host': 'apiHost',
  'api-port': 'apiPort',
  'api-token': 'apiToken',
  'api-token-file': 'apiTokenFile',
  writers: 'writers',
  'swarm-port': 'swarmPort',
  'swarm-listen': 'swarmListen',
  'registry-host': 'registryHost',
  'registry-port': 'registryPort',
  'allowed-hosts': 'allowedHosts',
  'max-upload-sessions': 'maxUploadSessions',
  'max-upload-size': 'maxUploadSize',
  'min-free-disk': 'minFreeDisk',
  'max-disk': 'maxDisk',
  'disk-low-watermark': 'diskLowWatermark',
  'disk-high-watermark': 'diskHighWatermark',
  'disk-gc-grace': 'diskGcGrace',
  peerstore: 'peerstore',
  'swarm-key': 'swarmKey',
  'force-pnet': 'forcePnet',
  'docker-host': 'dockerHost',
  upstream: 'upstream',
  'ipfs-api': 'ipfsApi',
  'grace-period': 'gracePeriod',
  'log-level': 'logLevel'
} as const satisfies Record<string, keyof z.input<typeof ConfigSchema>>

type Raw = Record<string, unknown>

export function loadConfig (argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const fromFile = readDotenv(join(cwd, '.env'))
  const raw: Raw = { ...fromEnv(fromFile), ...fromEnv(env), ...fromFlags(argv) }
  if (env.LIBP2P_FORCE_PNET === '1' && raw.forcePnet === undefined) raw.forcePnet = true
  const parsed = ConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = String(issue?.path[0] ?? '')
    throw new ConfigError(settingName(key), issue?.message ?? 'invalid')
  }
  return finish(parsed.data)
}

function finish (parsed: z.infer<typeof ConfigSchema>): Config {
  const config = { ...parsed, apiToken: parsed.apiToken ?? readTokenFile(parsed.apiTokenFile) }
  const defaultKey = join(config.dataDir, 'swarm.key')
  const swarmKeyPath = config.swarmKey ?? (existsSync(defaultKey) ? defaultKey : undefined)
  const defaultWriters = join(config.dataDir, 'writers')
  const writersPath = config.writers ?? (existsSync(defaultWriters) ? defaultWriters : undefined)
  const listen = config.swarmListen != null
    ? config.swarmListen.split(',').map(s => s.trim()).filter(s => s !== '')
    : [`/ip4/0.0.0.0/tcp/${config.swarmPort}`]
  // on another interface, anyone who reaches the port could change what every host pulls
  if (!isLoopback(config.apiHost) && config.apiToken == null) {
    throw new ConfigError('--api-host', `${config.apiHost} is not a loopback address: set an API token (--api-token or --api-token-file) to listen there`)
  }
  checkDisk(config)
  const allowedHosts = (config.allowedHosts ?? '').split(',').map(h => h.trim().toLowerCase()).filter(h => h !== '')
  return { ...config, swarmKeyPath, writersPath, listen, allowedHosts }
}

function checkDisk (config: z.infer<typeof ConfigSchema>): void {
  if (config.diskLowWatermark >= config.diskHighWatermark) {
    throw new ConfigError('--disk-low-watermark', `${config.diskLowWatermark}% must be below --disk-high-watermark (${config.diskHighWatermark}%)`)
  }
  // the blocks are Kubo's there: its own Datastore.StorageMax and repo gc bound them
  if (config.maxDisk != null && config.ipfsApi != null) {
    throw new ConfigError('--max-disk', 'not supported with --ipfs-api: Kubo keeps the content; bound it with Kubo\'s Datastore.StorageMax and `ipfs repo gc` (or `ipfs daemon --enable-gc`)')
  }
}

function readTokenFile (path: string | undefined): string | undefined {
  if (path == null) return undefined
  let token: string
  try {
    token = readFileSync(path, 'utf8').split(/\r?\n/)[0]?.trim() ?? ''
  } catch (err) {
    throw new ConfigError('--api-token-file', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (token.length < 16) throw new ConfigError('--api-token-file', `the token in ${path} must be at least 16 characters`)
  return token
}

export function isLoopback (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
}

function fromFlags (argv: string[]): Raw {
  const options = Object.fromEntries(Object.keys(FLAGS).map(flag => [flag, { type: flag === 'force-pnet' ? 'boolean' : 'string' }])) as Record<string, { type: 'string' | 'boolean' }>
  let values: Record<string, unknown>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new ConfigError('flags', (err as Error).message.split('\n')[0] ?? 'invalid flag')
  }
  return Object.fromEntries(Object.entries(values).map(([flag, v]) => [FLAGS[flag as keyof typeof FLAGS], v]))
}

function fromEnv (env: Record<string, string | undefined>): Raw {
  const out: Raw = {}
  for (const [flag, key] of Object.entries(FLAGS)) {
    const value = env[`DISTROMASH_${flag.toUpperCase().replaceAll('-', '_')}`]
    if (value !== undefined) out[key] = value
  }
  return out
}

function readDotenv (path: string): Record<string, string> {
  if (!existsSync(path)) return {}
  return parseDotenv(readFileSync(path))
}

/** The name a user typed: the flag, e.g. --api-port */
function settingName (key: string): string {
  const flag = Object.entries(FLAGS).find(([, k]) => k === key)?.[0]
  return flag == null ? key : `--${flag} (DISTROMASH_${flag.toUpperCase().replaceAll('-', '_')})`
}
