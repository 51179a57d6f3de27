import type { ReactNode } from 'react'
import { Link } from '../components/link'

export function NotFoundPage ({ path }: { path: string }): ReactNode {
  return (
    <>
      <h1>Not found</h1>
      <p>There is no page at <code>{path}</code>. <Link to="/">Go to the overview</Link>.</p>
    </>
  )
}
