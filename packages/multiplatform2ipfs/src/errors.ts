/** An image reference does not follow the distribution grammar. */
export class InvalidReferenceError extends Error {
  override name = 'InvalidReferenceError'
}

/** A digest is malformed or uses an algorithm other than sha256. */
export class InvalidDigestError extends Error {
  override name = 'InvalidDigestError'
}

/** Content hashed to a different digest than the one it was requested by. */
export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError'
}

/** Content was longer or shorter than its descriptor said. */
export class SizeMismatchError extends Error {
  override name = 'SizeMismatchError'
}

/** A manifest is not JSON, fails its schema, or has a media type we cannot handle. */
export class InvalidManifestError extends Error {
  override name = 'InvalidManifestError'
}

/** A manifest is larger than the 4 MiB cap. */
export class ManifestTooLargeError extends Error {
  override name = 'ManifestTooLargeError'
}

/** A platform string such as `linux/arm64/v8` cannot be parsed. */
export class InvalidPlatformError extends Error {
  override name = 'InvalidPlatformError'
}

/** A platform filter matched nothing in the image index. */
export class PlatformNotFoundError extends Error {
  override name = 'PlatformNotFoundError'
}

/** Plain HTTP to a non-loopback host without `allowInsecure`. */
export class InsecureRegistryError extends Error {
  override name = 'InsecureRegistryError'
}

/** The registry (or its token service) refused our credentials or gave none. */
export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError'
}

/** Any other non-success answer from a registry; `code` is the OCI error code when one was sent. */
export class RegistryResponseError extends Error {
  override name = 'RegistryResponseError'
  readonly status: number
  readonly code: string | undefined

  constructor (message: string, status: number, code?: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** The upstream has no such manifest or blob (HTTP 404). */
export class NotFoundError extends RegistryResponseError {
  override name = 'NotFoundError'
}

/** A layout in IPFS has no blob or file under the requested name. */
export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError'
}

/** A root CID does not hold a usable OCI image layout. */
export class InvalidLayoutError extends Error {
  override name = 'InvalidLayoutError'
}
