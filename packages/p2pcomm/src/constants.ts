/** Protocol names and tuning shared by every DistroMash node. Changing one splits the mesh. */
export const PROTOCOL_PREFIX = '/distromash'
/** kad-dht on a private prefix outside a private network, so a DistroMash mesh never joins the public IPFS DHT */
export const DHT_PROTOCOL = `${PROTOCOL_PREFIX}/kad/1.0.0`
/** Kubo's DHT protocols, spoken inside a private network (node.ts says why) */
export const LAN_DHT_PROTOCOL = '/ipfs/lan/kad/1.0.0'
export const AMINO_DHT_PROTOCOL = '/ipfs/kad/1.0.0'
/** Pull of signed records changed since a cursor, in bounded chunks (store/sync-protocol.ts) */
export const STORE_SYNC_PROTOCOL = `${PROTOCOL_PREFIX}/records-sync/1.0.0`
/** Block transfers between chosen peers (see blocks/exchange.ts); bitswap stays for everything else */
export const BLOCKS_PROTOCOL = `${PROTOCOL_PREFIX}/blocks/1.0.0`
/** A DAG's directories, small files and inner nodes in one answer (see blocks/skeleton.ts) */
export const SKELETON_PROTOCOL = `${PROTOCOL_PREFIX}/skeleton/1.0.0`
/** What Helia's bitswap speaks (its default: 1.2.0 only); its streams' bytes are counted (protocol-bytes.ts) */
export const BITSWAP_PROTOCOLS = ['/ipfs/bitswap/1.2.0']
export const STORE_TOPIC = 'distromash/records/1'
export const ANNOUNCE_TOPIC = 'distromash/announce/1'

export const MAX_KEY_LENGTH = 512
export const MAX_VALUE_BYTES = 256 * 1024
/** Nesting of objects and arrays in a value: deep values overflow the stack of whoever reads them */
export const MAX_VALUE_DEPTH = 32
/** Array items and object members in a value, all levels together */
export const MAX_VALUE_ELEMENTS = 10_000
/** A sync answer is sent in chunks of about this many bytes of records; a chunk holds at least one */
export const SYNC_CHUNK_BYTES = 256 * 1024
/** One sync message: a chunk, or one record at its largest, with framing */
export const MAX_SYNC_MESSAGE_BYTES = 1024 * 1024
/** Gossiped records taken from one neighbour per second, and in a burst; more are ignored (pull sync brings what was real) */
export const GOSSIP_RECORDS_PER_S = 500
export const GOSSIP_RECORDS_BURST = 5000
/** A neighbour that sent this many undecodable or forged records is ignored for BLOCK_MS */
export const REJECTS_BEFORE_BLOCK = 8
export const BLOCK_MS = 60_000
/** Chunks one pull takes (64 MiB) before it yields its slot; the next pull resumes at its cursor */
export const MAX_SYNC_ROUNDS = 256
/** Pulls from peers running at once (more wait in a queue): at most this many sync messages are buffered */
export const MAX_CONCURRENT_PULLS = 4
/** Sync answers in flight at once, all peers together; one more stream is refused */
export const MAX_SYNC_ANSWERS = 8
/** Records one author may hold in the store (its statuses, or a writer's desired state); more are dropped as over-quota */
export const MAX_RECORDS_PER_AUTHOR = 20_000
/** A record whose version is further ahead of this node's clock is dropped (accepted later, once time catches up) */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000

export const SYNC_INTERVAL_MS = 10_000
export const SYNC_TIMEOUT_MS = 15_000
export const ANNOUNCE_INTERVAL_MS = 5_000
export const PING_INTERVAL_MS = 10_000
export const REDIAL_MIN_MS = 1_000
export const REDIAL_MAX_MS = 30_000
