import { useState, type FormEvent, type ReactNode } from 'react'

/** The bearer token for nodes started with --api-token (display only: the app stores it) */
export function TokenSetting ({ token, onSave }: { token: string, onSave: (token: string) => void }): ReactNode {
  const [value, setValue] = useState(token)
  const [saved, setSaved] = useState(false)
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    onSave(value.trim())
    setSaved(true)
  }
  return (
    <details className="token">
      <summary>API token{token !== '' ? ' ✓' : ''}</summary>
      <form onSubmit={submit} className="token-form">
        <label htmlFor="api-token">Bearer token for changes (only if the node runs with --api-token)</label>
        <input id="api-token" type="password" autoComplete="off" value={value} onChange={e => { setValue(e.target.value); setSaved(false) }} />
        <button type="submit">Save</button>
        {saved && <span role="status" className="muted">{value.trim() === '' ? 'Token cleared' : 'Saved in this browser'}</span>}
      </form>
    </details>
  )
}
