/** Named errors: callers match on `name`, and the API maps them to HTTP statuses in one table. */
export class PeerstoreError extends Error {
  override name = 'PeerstoreError'
  constructor (message: string, readonly line: number) { super(message) }
}

export class SwarmKeyError extends Error {
  override name = 'SwarmKeyError'
}

export class PeerKeyError extends Error {
  override name = 'PeerKeyError'
}

export class InvalidRecordError extends Error {
  override name = 'InvalidRecordError'
  constructor (message: string, readonly field: 'key' | 'value') { super(message) }
}

export class PrivateNetworkRequiredError extends Error {
  override name = 'PrivateNetworkRequiredError'
}

/** This node's key may not sign a record of this key (not a writer, or another peer's record) */
export class UnauthorizedWriteError extends Error {
  override name = 'UnauthorizedWriteError'
  constructor (message: string, readonly key: string) { super(message) }
}
