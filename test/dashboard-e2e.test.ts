import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { DockerEngine, importBusyboxImage } from './helpers/docker.js'
import { NodeProcess, ROOT, eventually, writePeerstore } from './helpers/node-process.js'

const CHROMIUM = '/usr/bin/chromium'
const WEB_INDEX = join(ROOT, 'packages/web/dist/index.html')
const SHOTS = join(ROOT, 'test-output/screenshots')
const IMAGE = 'dmtest/hello:1'

/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core), served by node A of a
 * real 2-node mesh with real Docker engines and a real upstream registry: create a strategy
 * through the form, watch B's cell reach `loaded` live, delete it, see the cells go; an invalid
 * form shows the API's field error; a screenshot of every page lands in test-output/screenshots.
 */
describe('dashboard end to end in Chromium', () => {
  let upstream: RunningRegistry | undefined
  let engines: DockerEngine[] = []
  let a: NodeProcess | undefined
  let b: NodeProcess | undefined
  let context: BrowserContext | undefined
  let page: Page
  let profile = ''

  const url = (path: string): string => new URL(path, a?.apiUrl).toString()
  const bCell = (): string => `td[data-peer="${b?.peerId ?? ''}"][data-image="${IMAGE}"]`
  const shot = async (name: string): Promise<void> => { await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }) }
  const go = async (label: string): Promise<void> => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: label, exact: true }).click()
    await page.getByRole('heading', { level: 1, name: label }).waitFor()
  }

  beforeAll(async () => {
    if (!existsSync(WEB_INDEX)) throw new Error(`${WEB_INDEX} is missing: build the dashboard first (npm run build -w @distromash/web)`)
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run .ci/run (apt-get install chromium)`)
    await mkdir(SHOTS, { recursive: true })

    upstream = await startRegistry()
    engines = await Promise.all([DockerEngine.start(), DockerEngine.start()])
    const [ea, eb] = engines as [DockerEngine, DockerEngine]
    await importBusyboxImage(ea, IMAGE, 'hello from the mesh')
    const port = new URL(upstream.url).port
    await ea.docker('tag', IMAGE, `127.0.0.1:${port}/${IMAGE}`)
    await ea.docker('push', `127.0.0.1:${port}/${IMAGE}`)
    await ea.docker('rmi', IMAGE, `127.0.0.1:${port}/${IMAGE}`)

    const dir = await mkdtemp(join(tmpdir(), 'dm-web-'))
    const swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    const na = await NodeProcess.start({ swarmKey, extraArgs: ['--upstream', upstream.url, '--docker-host', ea.host, '--grace-period', '10'] })
    a = na
    const nb = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [na]), extraArgs: ['--docker-host', eb.host, '--grace-period', '10'] })
    b = nb
    await eventually(async () => (await na.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')).body.some(p => p.id === nb.peerId && p.connected), 20_000, 'a and b connected')

    profile = await mkdtemp(join(tmpdir(), 'dm-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1366, height: 860 }
    })
    page = context.pages()[0] ?? await context.newPage()
    page.setDefaultTimeout(20_000)
  }, 240_000)

  afterAll(async () => {
    await context?.close()
    await Promise.all([a?.stop(), b?.stop()])
    await Promise.all(engines.map(async e => e.stop()))
    await upstream?.stop()
    if (profile !== '') await rm(profile, { recursive: true, force: true })
  }, 120_000)

  it('shows the API\'s field error beside the field for an invalid strategy', async () => {
    await page.goto(url('/strategies'))
    await page.getByRole('heading', { level: 1, name: 'Strategies' }).waitFor()
    await page.getByLabel('Image (name:tag)').fill(IMAGE)
    for (const bad of ['0', '101']) {
      await page.getByLabel('Percentage of peers').fill(bad)
      await page.getByRole('button', { name: 'Create strategy' }).click()
      const error = page.locator('#s-percentage-error')
      await error.waitFor()
      expect(await error.textContent()).toBe('percentage must be an integer from 1 to 100')
      expect(await page.getByLabel('Percentage of peers').getAttribute('aria-invalid')).toBe('true')
      if (bad === '0') await shot('strategies-field-error')
    }
    // a target strategy: the peer picker lists the mesh's peers; the dry run selects exactly the target
    await page.getByLabel('Type').selectOption('target')
    await page.getByLabel('Target peer').selectOption(b!.peerId)
    await page.getByRole('button', { name: 'Preview selection' }).click()
    const preview = page.getByRole('status', { name: 'Preview' })
    await preview.waitFor()
    expect(await preview.textContent()).toContain('would select 1 peer (1 replica)')
    await shot('strategies-target-preview')
    await page.getByLabel('Type').selectOption('percentage')
    // the invalid form and the dry run stored nothing
    expect((await a!.api<unknown[]>('/api/v1/strategy')).body).toEqual([])
  })

  it('creates a percentage strategy through the form and shows B loaded on the replication page, live', async () => {
    await page.goto(url('/'))
    await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42 })
    await go('Strategies')
    await page.getByLabel('Image (name:tag)').fill(IMAGE)
    await page.getByLabel('Percentage of peers').fill('100')
    await page.getByRole('button', { name: 'Preview selection' }).click()
    const preview = page.getByRole('status', { name: 'Preview' })
    await preview.waitFor()
    expect(await preview.textContent()).toContain('would select 2 peers')
    expect(await a!.api<unknown[]>('/api/v1/strategy').then(r => r.body)).toEqual([])

    await page.getByRole('button', { name: 'Create strategy' }).click()
    await page.getByText(`Created a strategy for ${IMAGE}.`).waitFor()
    await page.locator('tr[data-key]').filter({ hasText: IMAGE }).waitFor()

    await go('Replication')
    await page.locator(`${bCell()}[data-state="loaded"]`).waitFor({ timeout: 120_000 })
    await page.locator(`td[data-peer="${a!.peerId}"][data-image="${IMAGE}"][data-state="loaded"]`).waitFor({ timeout: 60_000 })
    // followed live: the same document, never reloaded
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42)
    await shot('replication')

    await go('Strategies')
    await page.locator('[data-testid="replicas"]').filter({ hasText: '2 / 2' }).waitFor()
    await shot('strategies')
  }, 240_000)

  it('shows every other page with the mesh\'s data', async () => {
    await go('Overview')
    await page.getByText(a!.peerId, { exact: true }).waitFor()
    await page.locator('.stat').filter({ hasText: 'strategies' }).filter({ hasText: '1' }).waitFor()
    await page.locator('dt', { hasText: 'Content' }).locator('xpath=following-sibling::dd[1]').filter({ hasText: 'embedded (Helia)' }).waitFor()
    await shot('overview')

    await go('Images')
    const row = page.locator(`tr[data-image="${IMAGE}"]`)
    await row.waitFor()
    // held by both peers (from the replication cells)
    await expect.poll(async () => row.locator('td:nth-child(6) .peer-id').count(), { timeout: 10_000 }).toBe(2)
    // an import through the form: its job shows up with its outcome
    await page.getByLabel('Name', { exact: true }).fill('dmtest/hello')
    await page.getByLabel('Tag', { exact: true }).fill('1')
    const before = await page.locator('.job').count()
    await page.getByRole('button', { name: 'Import', exact: true }).click()
    await expect.poll(async () => page.locator('.job').count()).toBe(before + 1)
    // the newest job (first) ends, followed through `job` events
    await expect.poll(async () => page.locator('.job').first().getAttribute('data-state'), { timeout: 60_000 }).toBe('done')
    await page.getByLabel('Name', { exact: true }).fill('Not A Valid Name!')
    await page.getByRole('button', { name: 'Import', exact: true }).click()
    await page.locator('#i-name-error').waitFor()
    await shot('images')

    await go('Peers')
    await page.locator(`tr[data-peer="${b!.peerId}"]`).getByText(IMAGE).waitFor()
    await shot('peers')

    await go('Datastore')
    await page.getByLabel('Filter keys and values').fill('strategy/')
    await page.locator('.store tbody tr').first().waitFor()
    const keys = await page.locator('.store .key').allTextContents()
    expect(keys.length).toBeGreaterThan(0)
    expect(keys.some(k => k.startsWith('strategy/'))).toBe(true)
    expect(keys.some(k => k.startsWith('image/'))).toBe(false)
    await page.getByLabel('Filter keys and values').fill('')
    await shot('datastore')

    const swagger = await page.getByRole('link', { name: /Swagger/ }).getAttribute('href')
    expect(swagger).toBe('/swagger')
    expect((await fetch(url('/swagger/'))).status).toBe(200)
  }, 120_000)

  it('deletes the strategy through the UI with confirmation and the cells go away', async () => {
    await go('Strategies')
    const row = page.locator('tr[data-key]').filter({ hasText: IMAGE })
    await row.getByRole('button', { name: /^Delete strategy/ }).click()
    await row.getByRole('button', { name: 'Cancel' }).click()
    expect(await row.count()).toBe(1)
    await row.getByRole('button', { name: /^Delete strategy/ }).click()
    await row.getByRole('button', { name: 'Yes, delete' }).click()
    await row.waitFor({ state: 'detached' })
    await page.getByText('No strategies yet').waitFor()

    await go('Replication')
    await page.locator(bCell()).waitFor({ state: 'detached', timeout: 60_000 })
    await page.getByText('No replication yet').waitFor({ timeout: 60_000 })
    await shot('replication-after-delete')
  }, 120_000)

  it('shows that live updates are disconnected while the node is down, and reconnects', async () => {
    await go('Overview')
    const banner = page.getByRole('alert').filter({ hasText: 'Disconnected — retrying' })
    await a!.stop()
    await banner.waitFor({ timeout: 20_000 })
    await shot('disconnected')
    await a!.restart()
    await banner.waitFor({ state: 'detached', timeout: 60_000 })
    await page.getByText('ok', { exact: true }).first().waitFor({ timeout: 20_000 })
  }, 120_000)
})
