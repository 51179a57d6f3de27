/**
 * The key space of the replicated store. Only the records module builds or parses keys:
 *
 *   image/<name>:<tag>        an image of the mesh (multiplatform2ipfs's ImageRecord)    writers
 *   cid/<cid>                 the name and tag a root CID was published under            writers
 *   strategy/<key>            a replication strategy                                    writers
 *   assignment/<key>          the peers a strategy has chosen                            writers
 *   status/<peer>/<name:tag>  one peer's replication state of one image                 that peer
 *
 * Any other key (written through the raw store API) is desired state: writers only.
 */
export const IMAGE_PREFIX = 'image/'
export const CID_PREFIX = 'cid/'
export const STRATEGY_PREFIX = 'strategy/'
export const ASSIGNMENT_PREFIX = 'assignment/'
export const STATUS_PREFIX = 'status/'

export type RecordKey =
  | { kind: 'image', nametag: string }
  | { kind: 'cid', cid: string }
  | { kind: 'strategy', key: string }
  | { kind: 'assignment', key: string }
  | { kind: 'status', peerId: string, image: string }
  | { kind: 'other', key: string }

export function keyOf (k: RecordKey): string {
  switch (k.kind) {
    case 'image': return IMAGE_PREFIX + k.nametag
    case 'cid': return CID_PREFIX + k.cid
    case 'strategy': return STRATEGY_PREFIX + k.key
    case 'assignment': return ASSIGNMENT_PREFIX + k.key
    case 'status': return `${STATUS_PREFIX}${k.peerId}/${k.image}`
    case 'other': return k.key
  }
}

export function parseKey (key: string): RecordKey {
  if (key.startsWith(IMAGE_PREFIX)) return { kind: 'image', nametag: key.slice(IMAGE_PREFIX.length) }
  if (key.startsWith(CID_PREFIX)) return { kind: 'cid', cid: key.slice(CID_PREFIX.length) }
  if (key.startsWith(STRATEGY_PREFIX)) return { kind: 'strategy', key: key.slice(STRATEGY_PREFIX.length) }
  if (key.startsWith(ASSIGNMENT_PREFIX)) return { kind: 'assignment', key: key.slice(ASSIGNMENT_PREFIX.length) }
  if (key.startsWith(STATUS_PREFIX)) {
    const rest = key.slice(STATUS_PREFIX.length)
    const slash = rest.indexOf('/')
    if (slash > 0) return { kind: 'status', peerId: rest.slice(0, slash), image: rest.slice(slash + 1) }
  }
  return { kind: 'other', key }
}

/** The peer a record belongs to (only it may write it), for keys that have one */
export function ownerOf (key: string): string | undefined {
  if (!key.startsWith(STATUS_PREFIX)) return undefined
  const k = parseKey(key)
  return k.kind === 'status' ? k.peerId : ''
}
