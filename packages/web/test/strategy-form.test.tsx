// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { ApiError } from '../src/api/client'
import type { StrategyInput } from '../src/api/types'
import { StrategyForm } from '../src/components/strategy-form'
import { B, SELF, peers } from './fixtures'

afterEach(cleanup)

const fill = (label: string, value: string): void => { fireEvent.change(screen.getByLabelText(label), { target: { value } }) }

describe('strategy form', () => {
  it('shows the API\'s field error beside the field it names, and clears it on the next try', async () => {
    const onCreate = vi.fn<(input: StrategyInput) => Promise<void>>(async () => { throw new ApiError(400, 'VALIDATION', 'percentage must be an integer from 1 to 100', 'percentage') })
    render(<StrategyForm peers={peers} selfId={SELF} onPreview={vi.fn()} onCreate={onCreate} />)
    fill('Image (name:tag)', ' busybox:1.36 ')
    fill('Percentage of peers', '0')
    fireEvent.click(screen.getByRole('button', { name: 'Create strategy' }))
    const error = await screen.findByText('percentage must be an integer from 1 to 100')
    expect(error.id).toBe('s-percentage-error')
    const input = screen.getByLabelText('Percentage of peers')
    expect(input.getAttribute('aria-invalid')).toBe('true')
    expect(input.getAttribute('aria-describedby')).toContain('s-percentage-error')
    expect(onCreate).toHaveBeenCalledWith({ type: 'percentage', nametag: 'busybox:1.36', percentage: 0, execute: true })

    onCreate.mockResolvedValueOnce(undefined)
    fill('Percentage of peers', '50')
    fireEvent.click(screen.getByRole('button', { name: 'Create strategy' }))
    await screen.findByText('Created a strategy for busybox:1.36.')
    expect(screen.queryByText('percentage must be an integer from 1 to 100')).toBeNull()
    expect((screen.getByLabelText('Image (name:tag)') as HTMLInputElement).value).toBe('')
  })

  it('picks a target from the peers and previews the selection before saving', async () => {
    const onPreview = vi.fn(async () => ({ selected: [B], replicas: 1 }))
    const onCreate = vi.fn(async () => {})
    render(<StrategyForm peers={peers} selfId={SELF} onPreview={onPreview} onCreate={onCreate} />)
    fill('Type', 'target')
    expect(screen.queryByLabelText('Percentage of peers')).toBeNull()
    const options = [...(screen.getByLabelText('Target peer') as HTMLSelectElement).options].map(o => o.text)
    expect(options).toEqual(['Choose a peer…', '12D3KooWSelf…AAAAAA (this node)', '12D3KooWPeer…BBBBBB', '12D3KooWPeer…CCCCCC — offline'])
    fill('Image (name:tag)', 'nginx:1.27')
    fill('Target peer', B)
    fireEvent.click(screen.getByRole('button', { name: 'Preview selection' }))
    const preview = await screen.findByRole('status', { name: 'Preview' })
    expect(preview.textContent).toContain('would select 1 peer (1 replica)')
    expect(onPreview).toHaveBeenCalledWith({ type: 'target', nametag: 'nginx:1.27', target: B, execute: true })
    expect(onCreate).not.toHaveBeenCalled()
    // a change makes the preview stale
    fireEvent.click(screen.getByLabelText(/Execute/))
    expect(screen.queryByRole('status', { name: 'Preview' })).toBeNull()
  })

  it('shows an error naming no field above the buttons', async () => {
    const onCreate = vi.fn(async () => { throw new ApiError(409, 'CONFLICT', 'a strategy with this key exists') })
    render(<StrategyForm peers={peers} onPreview={vi.fn()} onCreate={onCreate} />)
    fill('Image (name:tag)', 'busybox:1.36')
    fireEvent.click(screen.getByRole('button', { name: 'Create strategy' }))
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('a strategy with this key exists') })
  })
})
