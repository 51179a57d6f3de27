import { useState, type ReactNode } from 'react'
import { copyText } from '../lib/clipboard'

export function CopyButton ({ text, label }: { text: string, label: string }): ReactNode {
  const [done, setDone] = useState<'' | 'ok' | 'fail'>('')
  const copy = async (): Promise<void> => {
    setDone(await copyText(text) ? 'ok' : 'fail')
    setTimeout(() => { setDone('') }, 1500)
  }
  return (
    <button type="button" className="small-button" onClick={() => { void copy() }} aria-label={label} title={label}>
      {done === 'ok' ? 'Copied' : done === 'fail' ? 'Copy failed' : 'Copy'}
    </button>
  )
}
