import type { ApiError } from '../api/client'

export interface FormErrors {
  /** Message per form field, from the API's `error.field` */
  fields: Record<string, string>
  /** The message when it names no field of this form */
  general?: string
}

/**
 * Places an API error beside the form field it names. The API prefixes its message with the
 * field ("percentage: …") for schema errors; that prefix is dropped where the field is shown.
 */
export function formErrors (err: ApiError | undefined, fields: readonly string[]): FormErrors {
  if (err == null) return { fields: {} }
  const field = err.field != null ? fields.find(f => f === err.field || err.field?.startsWith(`${f}.`) === true) : undefined
  if (field == null) return { fields: {}, general: err.status === 401 ? `${err.message} — set the API token (top right).` : err.message }
  const message = err.message.startsWith(`${err.field ?? ''}: `) ? err.message.slice((err.field ?? '').length + 2) : err.message
  return { fields: { [field]: message } }
}
