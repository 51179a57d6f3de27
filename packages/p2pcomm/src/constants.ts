/** Protocol names and tuning shared by every DistroMash node. Changing one splits the mesh. */
export const PROTOCOL_PREFIX = '/distromash'
/** kad-dht on a private prefix, so a DistroMash mesh never joins the public IPFS DHT */
export const DHT_PROTOCOL = `${PROTOCOL_PREFIX}/kad/1.0.0`
export const STORE_SYNC_PROTOCOL = `${PROTOCOL_PREFIX}/store-sync/1.0.0`
/** Block transfers between chosen peers (see blocks/exchange.ts); bitswap stays for everything else */
export const BLOCKS_PROTOCOL = `${PROTOCOL_PREFIX}/blocks/1.0.0`
export const STORE_TOPIC = 'distromash/store/1'
export const ANNOUNCE_TOPIC = 'distromash/announce/1'

/** A gossiped store update larger than this is dropped (a write is one small record) */
export const MAX_GOSSIP_UPDATE_BYTES = 1024 * 1024
/** A full-state sync answer may carry the whole store */
export const MAX_SYNC_MESSAGE_BYTES = 64 * 1024 * 1024
export const MAX_KEY_LENGTH = 512
export const MAX_VALUE_BYTES = 256 * 1024

export const SYNC_INTERVAL_MS = 10_000
export const SYNC_TIMEOUT_MS = 15_000
export const COMPACT_AFTER_UPDATES = 500
export const ANNOUNCE_INTERVAL_MS = 5_000
export const PING_INTERVAL_MS = 10_000
export const REDIAL_MIN_MS = 1_000
export const REDIAL_MAX_MS = 30_000
