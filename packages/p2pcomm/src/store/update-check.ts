import * as Y from 'yjs'
import { checkKey, checkValueShape } from './records.js'

/** The only shared type in the document: one flat map, as DistroMash's key namespace was */
export const ROOT_MAP = 'kv'

/**
 * Structural check of a Yjs update before it touches the document. A peer may only add
 * plain JSON entries to the root map; nested types, text, binaries and other roots are
 * refused, so a malformed or hostile message can neither crash the node nor poison state.
 * Returns the reason when the update must be dropped.
 */
export function rejectReason (update: Uint8Array): string | undefined {
  let structs: Array<Y.Item | Y.GC | Y.Skip>
  try {
    structs = Y.decodeUpdate(update).structs
  } catch {
    return 'undecodable update'
  }
  for (const struct of structs) {
    const reason = struct instanceof Y.Item ? itemReason(struct) : undefined
    if (reason != null) return reason
  }
  return undefined
}

function itemReason (item: Y.Item): string | undefined {
  // parent is written only for the first entry of a key; later writes chain to it by origin
  if (item.parent != null) {
    if (typeof item.parent !== 'string') return 'nested types are not allowed'
    if (item.parent !== ROOT_MAP) return `unknown root type "${String(item.parent)}"`
    if (item.parentSub == null) return 'only map entries are allowed'
  }
  if (item.parentSub != null) {
    try { checkKey(item.parentSub) } catch (err) { return (err as Error).message }
  }
  return contentReason(item.content)
}

function contentReason (content: Y.Item['content']): string | undefined {
  if (content instanceof Y.ContentDeleted) return undefined
  if (!(content instanceof Y.ContentAny)) return `content type ${content.constructor.name} is not allowed`
  if (content.arr.length !== 1) return 'a map entry holds exactly one value'
  try { checkValueShape(content.arr[0]) } catch (err) { return (err as Error).message }
  return undefined
}
