import type { ReactNode } from 'react'
import { Link } from './link'

export function Stat ({ label, value, to }: { label: string, value: ReactNode, to?: string }): ReactNode {
  const body = <><span className="stat-value">{value}</span><span className="stat-label">{label}</span></>
  return to != null ? <Link to={to} className="stat">{body}</Link> : <div className="stat">{body}</div>
}
