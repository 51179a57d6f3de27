/*
 * Named errors of the registry and the one table that maps them (and the library's own errors) to
 * OCI distribution error codes and HTTP statuses, as distribution's errcode/register.go does.
 */
import {
  BlobNotFoundError, DigestMismatchError, InvalidDigestError, InvalidManifestError,
  InvalidReferenceError, ManifestTooLargeError, SizeMismatchError
} from '../errors.js'

/** A registry error with the detail to put into the OCI error body. */
export class RegistryError extends Error {
  override name = 'RegistryError'
  constructor (message: string, readonly detail?: unknown) {
    super(message)
  }
}

export class NameInvalidError extends RegistryError { override name = 'NameInvalidError' }
export class NameUnknownError extends RegistryError { override name = 'NameUnknownError' }
export class ManifestUnknownError extends RegistryError { override name = 'ManifestUnknownError' }
export class BlobUnknownError extends RegistryError { override name = 'BlobUnknownError' }
export class ManifestBlobUnknownError extends RegistryError { override name = 'ManifestBlobUnknownError' }
export class UploadUnknownError extends RegistryError { override name = 'UploadUnknownError' }
export class UploadInvalidError extends RegistryError { override name = 'UploadInvalidError' }
export class RangeInvalidError extends RegistryError { override name = 'RangeInvalidError' }
export class SizeInvalidError extends RegistryError { override name = 'SizeInvalidError' }
export class UnsupportedError extends RegistryError { override name = 'UnsupportedError' }
/** Too many upload sessions are open: a client must finish or cancel some first */
export class TooManyUploadsError extends RegistryError { override name = 'TooManyUploadsError' }
/** An upload session grew past the size limit */
export class UploadTooLargeError extends RegistryError { override name = 'UploadTooLargeError' }
/** The uploads directory's disk has less free space than the reserve */
export class DiskFullError extends RegistryError { override name = 'DiskFullError' }
/** This node may not record a name:tag for the mesh (it is not a writer) */
export class DeniedError extends RegistryError { override name = 'DeniedError' }
/** Blocks did not arrive (from the local store or the mesh) within the stall timeout. */
export class BlockTimeoutError extends RegistryError { override name = 'BlockTimeoutError' }

export type OciErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'SIZE_INVALID'
  | 'RANGE_INVALID' | 'UNSUPPORTED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE' | 'UNKNOWN'

export interface OciErrorMapping {
  code: OciErrorCode
  status: number
}

/** Error class name → code and status; anything not listed is our fault: 500 UNKNOWN. */
const TABLE: Record<string, OciErrorMapping> = {
  [NameInvalidError.name]: { code: 'NAME_INVALID', status: 400 },
  [InvalidReferenceError.name]: { code: 'NAME_INVALID', status: 400 },
  [NameUnknownError.name]: { code: 'NAME_UNKNOWN', status: 404 },
  [ManifestUnknownError.name]: { code: 'MANIFEST_UNKNOWN', status: 404 },
  [BlobUnknownError.name]: { code: 'BLOB_UNKNOWN', status: 404 },
  [BlobNotFoundError.name]: { code: 'BLOB_UNKNOWN', status: 404 },
  [ManifestBlobUnknownError.name]: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400 },
  [UploadUnknownError.name]: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404 },
  [UploadInvalidError.name]: { code: 'BLOB_UPLOAD_INVALID', status: 400 },
  [RangeInvalidError.name]: { code: 'RANGE_INVALID', status: 416 },
  [SizeInvalidError.name]: { code: 'SIZE_INVALID', status: 400 },
  [SizeMismatchError.name]: { code: 'SIZE_INVALID', status: 400 },
  [InvalidDigestError.name]: { code: 'DIGEST_INVALID', status: 400 },
  [DigestMismatchError.name]: { code: 'DIGEST_INVALID', status: 400 },
  [InvalidManifestError.name]: { code: 'MANIFEST_INVALID', status: 400 },
  [ManifestTooLargeError.name]: { code: 'MANIFEST_INVALID', status: 413 },
  [UnsupportedError.name]: { code: 'UNSUPPORTED', status: 405 },
  [DeniedError.name]: { code: 'DENIED', status: 403 },
  [TooManyUploadsError.name]: { code: 'TOOMANYREQUESTS', status: 429 },
  [UploadTooLargeError.name]: { code: 'SIZE_INVALID', status: 413 },
  [DiskFullError.name]: { code: 'UNAVAILABLE', status: 507 },
  [BlockTimeoutError.name]: { code: 'UNAVAILABLE', status: 503 }
}

export function ociError (err: unknown): OciErrorMapping {
  return TABLE[(err as Error | undefined)?.name ?? ''] ?? { code: 'UNKNOWN', status: 500 }
}

/** The OCI error body: `{"errors":[{"code","message","detail"}]}`. */
export function errorBody (err: unknown): { errors: Array<{ code: OciErrorCode, message: string, detail: unknown }> } {
  const { code, status } = ociError(err)
  // never leak internals of our own failures to clients
  const message = status === 500 ? 'internal error' : (err as Error).message
  const detail = err instanceof RegistryError ? err.detail ?? null : null
  return { errors: [{ code, message, detail }] }
}
