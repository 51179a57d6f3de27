/** Copy text; falls back to a selected textarea where the async clipboard is unavailable */
export async function copyText (text: string): Promise<boolean> {
  try {
    if (navigator.clipboard != null) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch { /* fall through */ }
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.style.position = 'fixed'
  area.style.opacity = '0'
  document.body.appendChild(area)
  area.select()
  let ok = false
  try { ok = document.execCommand('copy') } catch { ok = false }
  area.remove()
  return ok
}
