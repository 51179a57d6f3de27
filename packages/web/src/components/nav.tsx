import type { ReactNode } from 'react'
import { Link } from './link'

export const PAGES = [
  { path: '/', label: 'Overview' },
  { path: '/strategies', label: 'Strategies' },
  { path: '/replication', label: 'Replication' },
  { path: '/images', label: 'Images' },
  { path: '/peers', label: 'Peers' },
  { path: '/datastore', label: 'Datastore' }
] as const

export function Nav ({ path, extra }: { path: string, extra?: ReactNode }): ReactNode {
  return (
    <header className="top">
      <Link to="/" className="brand">DistroMash</Link>
      <nav aria-label="Pages">
        <ul>
          {PAGES.map(p => (
            <li key={p.path}><Link to={p.path} aria-current={p.path === path ? 'page' : undefined}>{p.label}</Link></li>
          ))}
          <li><a href="/swagger" target="_blank" rel="noopener">API (Swagger) ↗</a></li>
        </ul>
      </nav>
      <div className="top-extra">{extra}</div>
    </header>
  )
}
