/** Part (b): placeholder until playbooks/cross-host.ts exists (filled in below). */
import type { Summary } from './stats.ts'
export interface CrossHostResult {
  hosts: number
  orch?: { first: Summary; second: Summary; maxRssKb?: number }
  ansible?: { first: Summary; second: Summary; maxRssKb?: number }
  ratios: { ansibleOverOrch: { first: number; second: number } }
  skipped?: string
}
export async function crossHostPart(o: { log(m: string): void; [k: string]: unknown }): Promise<CrossHostResult | undefined> {
  o.log('part b: not written yet')
  return undefined
}
