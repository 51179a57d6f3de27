import { useEffect, useState } from 'react'

/**
 * Client-side routes on the History API; the node answers index.html for any non-API path,
 * so a reload or a shared link lands on the same page.
 */
export function usePath (): string {
  const [path, setPath] = useState(() => window.location.pathname)
  useEffect(() => {
    const on = (): void => { setPath(window.location.pathname) }
    window.addEventListener('popstate', on)
    return () => { window.removeEventListener('popstate', on) }
  }, [])
  return path
}

export function navigate (path: string): void {
  if (path === window.location.pathname) return
  window.history.pushState(null, '', path)
  window.dispatchEvent(new PopStateEvent('popstate'))
}
