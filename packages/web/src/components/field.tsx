import type { ReactNode } from 'react'

export interface ControlProps { id: string, 'aria-invalid'?: true, 'aria-describedby'?: string }

/** A labelled form control with its hint and its error (from the API) right under it */
export function Field ({ id, label, error, hint, children }: {
  id: string
  label: string
  error?: string | undefined
  hint?: string
  children: (control: ControlProps) => ReactNode
}): ReactNode {
  const described = [hint != null ? `${id}-hint` : '', error != null ? `${id}-error` : ''].filter(Boolean).join(' ')
  return (
    <div className={`field${error != null ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, ...(error != null ? { 'aria-invalid': true } : {}), ...(described !== '' ? { 'aria-describedby': described } : {}) })}
      {hint != null && <span id={`${id}-hint`} className="hint">{hint}</span>}
      {error != null && <span id={`${id}-error`} className="field-error" role="alert">{error}</span>}
    </div>
  )
}
