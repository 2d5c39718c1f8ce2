/** ANSI colours, off unless asked for (TTY and no NO_COLOR). */
const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`
const id = (s: string) => s

export interface Painter {
  green(s: string): string
  yellow(s: string): string
  red(s: string): string
  cyan(s: string): string
  magenta(s: string): string
  dim(s: string): string
  bold(s: string): string
}

export function paint(on: boolean): Painter {
  if (!on) return { green: id, yellow: id, red: id, cyan: id, magenta: id, dim: id, bold: id }
  return {
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    red: wrap(31, 39),
    cyan: wrap(36, 39),
    magenta: wrap(35, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  }
}

export function useColor(stream: { isTTY?: boolean }): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb'
}

/** Visible length (without ANSI escapes). */
export const visibleLength = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').length

/** Cut a line to `width` visible columns, keeping escapes balanced enough (reset at the end). */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s
  let out = ''
  let vis = 0
  for (let i = 0; i < s.length; ) {
    const m = /^\x1b\[[0-9;]*[A-Za-z]/.exec(s.slice(i))
    if (m) {
      out += m[0]
      i += m[0].length
      continue
    }
    if (vis >= width - 1) break
    out += s[i]
    vis++
    i++
  }
  return out + '…\x1b[0m'
}
