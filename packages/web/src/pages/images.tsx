import type { ReactNode } from 'react'
import { api, useImages, useJobs, usePeers, useReplication } from '../api/hooks'
import type { ImportRequest } from '../api/types'
import { ImageTable } from '../components/image-table'
import { ImportForm } from '../components/import-form'
import { JobList } from '../components/job-list'
import { LoadState } from '../components/load-state'
import { holders } from '../lib/matrix'

export function ImagesPage (): ReactNode {
  const images = useImages()
  const replication = useReplication()
  const jobs = useJobs()
  const peers = usePeers()
  const selfId = peers.data?.find(p => p.self)?.id
  const cells = replication.data?.cells ?? []
  const start = async (req: ImportRequest): Promise<void> => {
    await api.importImage(req)
    await jobs.reload()
  }
  return (
    <>
      <h1>Images</h1>
      <LoadState loading={images.loading} error={images.error} />
      {images.data != null && <ImageTable images={images.data} holders={image => holders(cells, image)} selfId={selfId} />}
      <ImportForm onImport={start} />
      <section className="card" aria-labelledby="jobs-title">
        <h2 id="jobs-title">Imports on this node</h2>
        <LoadState loading={jobs.loading} error={jobs.error} />
        {jobs.data != null && <JobList jobs={jobs.data.slice(0, 10)} />}
      </section>
    </>
  )
}
