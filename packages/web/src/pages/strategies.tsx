import { useState, type ReactNode } from 'react'
import { api, ApiError, usePeers, useReplication, useStrategies } from '../api/hooks'
import type { Strategy, StrategyInput } from '../api/types'
import { LoadState } from '../components/load-state'
import { StrategyForm } from '../components/strategy-form'
import { StrategyTable } from '../components/strategy-table'

export function StrategiesPage (): ReactNode {
  const strategies = useStrategies()
  const peers = usePeers()
  const replication = useReplication()
  const [busyKey, setBusyKey] = useState<string>()
  const [actionError, setActionError] = useState<string>()
  const selfId = peers.data?.find(p => p.self)?.id

  const act = async (s: Strategy, fn: () => Promise<unknown>): Promise<void> => {
    setBusyKey(s.key)
    setActionError(undefined)
    try {
      await fn()
      await Promise.all([strategies.reload(), replication.reload()])
    } catch (err) {
      setActionError(err instanceof ApiError ? err.message : String(err))
    } finally { setBusyKey(undefined) }
  }
  const create = async (input: StrategyInput): Promise<void> => {
    await api.createStrategy(input)
    await strategies.reload()
  }

  return (
    <>
      <h1>Strategies</h1>
      <p className="lead muted">A strategy places an image on peers: a percentage of the mesh, or one target peer.</p>
      <LoadState loading={strategies.loading} error={strategies.error} />
      {actionError != null && <p className="error-box" role="alert">{actionError}</p>}
      {strategies.data != null && (
        <StrategyTable strategies={strategies.data} selfId={selfId} busyKey={busyKey}
          onToggle={(s, execute) => { void act(s, async () => api.updateStrategy({ key: s.key, execute })) }}
          onDelete={s => { void act(s, async () => api.deleteStrategy(s.key)) }} />
      )}
      <StrategyForm peers={peers.data ?? []} selfId={selfId} onPreview={api.previewStrategy} onCreate={create} />
    </>
  )
}
