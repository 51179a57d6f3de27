import { useState, type FormEvent, type ReactNode } from 'react'
import { ApiError } from '../api/client'
import type { Peer, Preview, StrategyInput, StrategyType } from '../api/types'
import { formErrors, type FormErrors } from '../lib/errors'
import { shortId } from '../lib/format'
import { Field } from './field'
import { PeerId } from './peer-id'

const FIELDS = ['type', 'nametag', 'percentage', 'target', 'execute'] as const

export interface StrategyFormProps {
  peers: Peer[]
  selfId?: string | undefined
  onPreview: (input: StrategyInput) => Promise<Preview>
  onCreate: (input: StrategyInput) => Promise<void>
}

/**
 * Create a strategy of either type. The API validates: its field errors are shown beside the
 * fields (the browser's own validation is off so the API's messages are the ones users see).
 */
export function StrategyForm ({ peers, selfId, onPreview, onCreate }: StrategyFormProps): ReactNode {
  const [type, setType] = useState<StrategyType>('percentage')
  const [nametag, setNametag] = useState('')
  const [pct, setPct] = useState('100')
  const [target, setTarget] = useState('')
  const [execute, setExecute] = useState(true)
  const [errors, setErrors] = useState<FormErrors>({ fields: {} })
  const [preview, setPreview] = useState<Preview>()
  const [busy, setBusy] = useState<'' | 'preview' | 'create'>('')
  const [created, setCreated] = useState('')

  const input = (): StrategyInput => type === 'percentage'
    ? { type, nametag: nametag.trim(), ...(pct.trim() !== '' ? { percentage: Number(pct) } : {}), execute }
    : { type, nametag: nametag.trim(), ...(target !== '' ? { target } : {}), execute }
  const changed = <T,>(set: (v: T) => void) => (v: T): void => { set(v); setPreview(undefined); setCreated('') }
  const run = async (what: 'preview' | 'create'): Promise<void> => {
    setBusy(what)
    setErrors({ fields: {} })
    try {
      if (what === 'preview') setPreview(await onPreview(input()))
      else {
        await onCreate(input())
        setCreated(nametag.trim())
        setNametag('')
        setPreview(undefined)
      }
    } catch (err) {
      setErrors(formErrors(err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err)), FIELDS))
    } finally { setBusy('') }
  }
  const submit = (e: FormEvent): void => { e.preventDefault(); void run('create') }
  const err = errors.fields

  return (
    <form className="card form" onSubmit={submit} noValidate aria-labelledby="create-strategy">
      <h2 id="create-strategy">New strategy</h2>
      <div className="form-row">
        <Field id="s-type" label="Type" error={err.type}>
          {p => (
            <select {...p} value={type} onChange={e => { changed(setType)(e.target.value as StrategyType) }}>
              <option value="percentage">percentage — a share of the mesh</option>
              <option value="target">target — one chosen peer</option>
            </select>
          )}
        </Field>
        <Field id="s-nametag" label="Image (name:tag)" error={err.nametag} hint="e.g. busybox:1.36 or ghcr.io/org/app:v2">
          {p => <input {...p} type="text" value={nametag} autoComplete="off" spellCheck={false} onChange={e => { changed(setNametag)(e.target.value) }} />}
        </Field>
        {type === 'percentage'
          ? (
            <Field id="s-percentage" label="Percentage of peers" error={err.percentage} hint="1 to 100">
              {p => <input {...p} type="number" inputMode="numeric" min={1} max={100} step={1} value={pct} onChange={e => { changed(setPct)(e.target.value) }} />}
            </Field>
            )
          : (
            <Field id="s-target" label="Target peer" error={err.target}>
              {p => (
                <select {...p} value={target} onChange={e => { changed(setTarget)(e.target.value) }}>
                  <option value="">Choose a peer…</option>
                  {peers.map(peer => (
                    <option key={peer.id} value={peer.id}>
                      {shortId(peer.id)}{peer.id === selfId ? ' (this node)' : ''}{peer.connected || peer.self ? '' : ' — offline'}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            )}
      </div>
      <div className="check">
        <input id="s-execute" type="checkbox" checked={execute} onChange={e => { changed(setExecute)(e.target.checked) }} />
        <label htmlFor="s-execute">Execute (load the image into the selected peers' Docker engines)</label>
        {err.execute != null && <span className="field-error" role="alert">{err.execute}</span>}
      </div>
      {errors.general != null && <p className="error-box" role="alert">{errors.general}</p>}
      <div className="actions">
        <button type="button" onClick={() => { void run('preview') }} disabled={busy !== ''}>{busy === 'preview' ? 'Previewing…' : 'Preview selection'}</button>
        <button type="submit" className="primary" disabled={busy !== ''}>{busy === 'create' ? 'Creating…' : 'Create strategy'}</button>
        {created !== '' && <span role="status" className="ok-text">Created a strategy for {created}.</span>}
      </div>
      {preview != null && (
        <div className="preview" role="status" aria-label="Preview">
          <strong>Dry run:</strong> would select {preview.selected.length} peer{preview.selected.length === 1 ? '' : 's'} ({preview.replicas} replica{preview.replicas === 1 ? '' : 's'}).
          {preview.selected.length > 0 && <ul className="inline-list">{preview.selected.map(id => <li key={id}><PeerId id={id} selfId={selfId} /></li>)}</ul>}
        </div>
      )}
    </form>
  )
}
