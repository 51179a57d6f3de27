import { useEffect, useState, type ReactNode } from 'react'
import { getToken, setToken } from './api/client'
import { LiveProvider, useLiveStatus } from './api/hooks'
import { ConnectionBanner } from './components/connection-banner'
import { Nav, PAGES } from './components/nav'
import { TokenSetting } from './components/token-setting'
import { usePath } from './lib/router'
import { DatastorePage } from './pages/datastore'
import { ImagesPage } from './pages/images'
import { NotFoundPage } from './pages/not-found'
import { OverviewPage } from './pages/overview'
import { PeersPage } from './pages/peers'
import { ReplicationPage } from './pages/replication'
import { StrategiesPage } from './pages/strategies'

const ROUTES: Record<string, () => ReactNode> = {
  '/': OverviewPage,
  '/strategies': StrategiesPage,
  '/replication': ReplicationPage,
  '/images': ImagesPage,
  '/peers': PeersPage,
  '/datastore': DatastorePage
}

export function App (): ReactNode {
  return <LiveProvider><Shell /></LiveProvider>
}

function Shell (): ReactNode {
  const path = usePath().replace(/\/+$/, '') || '/'
  const status = useLiveStatus()
  const [token, saveToken] = useState(getToken)
  const Page = ROUTES[path]
  useEffect(() => {
    const label = PAGES.find(p => p.path === path)?.label ?? 'Not found'
    document.title = `${label} · DistroMash`
  }, [path])
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <Nav path={path} extra={<TokenSetting token={token} onSave={t => { setToken(t); saveToken(t) }} />} />
      <ConnectionBanner status={status} />
      <main id="main" tabIndex={-1}>
        {Page != null ? <Page key={path} /> : <NotFoundPage path={path} />}
      </main>
    </>
  )
}
