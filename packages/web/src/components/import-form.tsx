import { useState, type FormEvent, type ReactNode } from 'react'
import { ApiError } from '../api/client'
import type { ImportRequest } from '../api/types'
import { formErrors, type FormErrors } from '../lib/errors'
import { Field } from './field'

const FIELDS = ['name', 'tag', 'platforms'] as const

/** POST /api/v1/image: name, optional tag and platforms (comma-separated) */
export function ImportForm ({ onImport }: { onImport: (req: ImportRequest) => Promise<void> }): ReactNode {
  const [name, setName] = useState('')
  const [tag, setTag] = useState('')
  const [platforms, setPlatforms] = useState('')
  const [errors, setErrors] = useState<FormErrors>({ fields: {} })
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setErrors({ fields: {} })
    const list = platforms.split(',').map(p => p.trim()).filter(Boolean)
    try {
      await onImport({ name: name.trim(), ...(tag.trim() !== '' ? { tag: tag.trim() } : {}), ...(list.length > 0 ? { platforms: list } : {}) })
      setName('')
      setTag('')
    } catch (err) {
      setErrors(formErrors(err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err)), FIELDS))
    } finally { setBusy(false) }
  }
  return (
    <form className="card form" onSubmit={e => { void submit(e) }} noValidate aria-labelledby="import-title">
      <h2 id="import-title">Import an image</h2>
      <p className="muted small">Fetches every platform (or the ones listed) from the node's upstream registry into IPFS.</p>
      <div className="form-row">
        <Field id="i-name" label="Name" error={errors.fields.name} hint="busybox, user/app or ghcr.io/org/app">
          {p => <input {...p} type="text" value={name} autoComplete="off" spellCheck={false} onChange={e => { setName(e.target.value) }} />}
        </Field>
        <Field id="i-tag" label="Tag" error={errors.fields.tag} hint="default latest">
          {p => <input {...p} type="text" value={tag} autoComplete="off" spellCheck={false} onChange={e => { setTag(e.target.value) }} />}
        </Field>
        <Field id="i-platforms" label="Platforms" error={errors.fields.platforms} hint="optional, e.g. linux/amd64, linux/arm64">
          {p => <input {...p} type="text" value={platforms} autoComplete="off" spellCheck={false} onChange={e => { setPlatforms(e.target.value) }} />}
        </Field>
      </div>
      {errors.general != null && <p className="error-box" role="alert">{errors.general}</p>}
      <div className="actions"><button type="submit" className="primary" disabled={busy}>{busy ? 'Starting…' : 'Import'}</button></div>
    </form>
  )
}
