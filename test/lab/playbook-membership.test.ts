/**
 * Hosts leaving and joining (issue 19 item 3), routes and wireguard, 3 lab hosts: 3 → 2 (the middle host
 * leaves the inventory) → 3. What orch put on the others for the host that left (its route, its WireGuard
 * peer and route) goes on the next run, --check shows it first; the subnets of the hosts that stay never
 * move; the host joining again converges the rest, and the matrix passes each time.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { changeLines, exec, orch, PLAYBOOK, type StrategyName } from './playbook-common.ts'

/** The lab's inventory without `gone` (written beside it). */
function without(lab: Lab, gone: LabHost): string {
  const text = readFileSync(lab.inventoryPath, 'utf8')
  const path = lab.inventoryPath.replace(/\.ini$/, `-without-${gone.name}.ini`)
  writeFileSync(path, text.split('\n').filter((l) => !l.startsWith(`${gone.name} `)).join('\n'))
  return path
}

const runWith = (inv: string, s: StrategyName, ...more: string[]) => orch('run', PLAYBOOK, '-i', inv, '-e', `orch_strategy=${s}`, '--json', ...more)

/** What a host routes to the cluster's subnets: 'dst via gw' / 'dst dev X' lines, sorted. */
async function clusterRoutes(lab: Lab, h: LabHost): Promise<string[]> {
  const rs = JSON.parse(await exec(lab, h, 'ip -j -4 route show proto static')) as Array<{ dst: string; gateway?: string; dev: string }>
  return rs.filter((r) => r.dst.startsWith('10.244.')).map((r) => `${r.dst} ${r.gateway ? `via ${r.gateway}` : `dev ${r.dev}`}`).sort()
}
const docker0 = async (lab: Lab, h: LabHost) => JSON.parse(await exec(lab, h, 'ip -j -4 addr show dev docker0'))[0].addr_info[0].local as string
/** The route files orch persisted (/etc/orch/routes, brought back at boot by orch-routes.service), with the route each holds. */
async function persistedRoutes(lab: Lab, h: LabHost): Promise<string[]> {
  const out = await exec(lab, h, 'for f in /etc/orch/routes/*.route; do [ -f "$f" ] && printf "%s %s\\n" "${f##*/}" "$(grep -v "^#" "$f")"; done; true')
  return out.split('\n').filter(Boolean).map((l) => l.replace(/ table 254 proto static metric 0$/, '')).sort()
}
const wgPeers = async (lab: Lab, h: LabHost) => (await exec(lab, h, 'wg show orch-wg0 peers')).trim().split('\n').filter(Boolean).sort()

function membership(s: StrategyName) {
  describe.skipIf(labSkipReason)(`membership change: ${s}`, () => {
    const lab = withLab({ hosts: 3, docker: true })

    it('3 -> 2 -> 3: what orch made for the host that left goes (shown by --check first), subnets stay, the matrix passes', async () => {
      const [a, b, c] = lab().hosts
      const all = await runWith(lab().inventoryPath, s)
      expect(all.code, all.err).toBe(0)
      const routeTo = (x: LabHost, i: number) => (s === 'routes' ? `10.244.${i}.0/24 via ${x.address}` : `10.244.${i}.0/24 dev orch-wg0`)
      expect(await clusterRoutes(lab(), a)).toEqual([routeTo(b, 1), routeTo(c, 2)])
      const fileOf = (i: number) => `10.244.${i}.0_24-m0-t254.route`
      const persisted = (x: LabHost, i: number) => `${fileOf(i)} ${routeTo(x, i)}`
      expect(await persistedRoutes(lab(), a)).toEqual([persisted(b, 1), persisted(c, 2)])
      const bKey = s === 'wireguard' ? (await exec(lab(), b, 'wg show orch-wg0 public-key')).trim() : ''

      const two = without(lab(), b)
      const check = await runWith(two, s, '--check')
      expect(check.code, check.err).toBe(0)
      for (const h of [a, c]) {
        const lines = changeLines(check.doc, h.name)
        expect(lines.some((l) => l.startsWith(`remove route ${routeTo(b, 1)}`)), `${h.name}: ${lines.join('; ')}`).toBe(true)
        expect(lines.some((l) => l.startsWith(`remove /etc/orch/routes/${fileOf(1)} (at commit)`)), `${h.name}: ${lines.join('; ')}`).toBe(true)
        if (s === 'wireguard') expect(lines.some((l) => l.startsWith(`orch-wg0: remove peer ${bKey}`))).toBe(true)
      }
      const after = await runWith(two, s)
      expect(after.code, after.err).toBe(0)
      expect(after.doc.checks.every((x: any) => x.ok)).toBe(true)
      expect(await clusterRoutes(lab(), a)).toEqual([routeTo(c, 2)])
      expect(await clusterRoutes(lab(), c)).toEqual([routeTo(a, 0)])
      // ... and what would bring it back at boot.
      expect(await persistedRoutes(lab(), a)).toEqual([persisted(c, 2)])
      expect(await persistedRoutes(lab(), c)).toEqual([persisted(a, 0)])
      // node3 keeps its subnet (by inventory order alone it would move up to node2's).
      expect(await docker0(lab(), c)).toBe('10.244.2.1')
      if (s === 'wireguard')
        for (const h of [a, c]) {
          expect(await wgPeers(lab(), h)).not.toContain(bKey)
          // ... nor in what orch-wireguard.service loads at boot.
          expect(await exec(lab(), h, 'cat /etc/orch/wireguard/orch-wg0.conf'), h.name).not.toContain(bKey)
        }
      // The host that left was not touched.
      expect(await clusterRoutes(lab(), b)).toEqual([routeTo(a, 0), routeTo(c, 2)])
      expect(await persistedRoutes(lab(), b)).toEqual([persisted(a, 0), persisted(c, 2)])

      const again = await runWith(lab().inventoryPath, s)
      expect(again.code, again.err).toBe(0)
      expect(again.doc.checks.every((x: any) => x.ok)).toBe(true)
      expect(again.doc.stats[b.name].changed).toBe(0)
      expect(await clusterRoutes(lab(), a)).toEqual([routeTo(b, 1), routeTo(c, 2)])
      expect(await clusterRoutes(lab(), c)).toEqual([routeTo(a, 0), routeTo(b, 1)])
      expect(await persistedRoutes(lab(), c)).toEqual([persisted(a, 0), persisted(b, 1)])
      if (s === 'wireguard') expect(await exec(lab(), a, 'cat /etc/orch/wireguard/orch-wg0.conf')).toContain(`PublicKey = ${bKey}\nAllowedIPs = 10.244.1.0/24\n`)
      expect([await docker0(lab(), a), await docker0(lab(), b), await docker0(lab(), c)]).toEqual(['10.244.0.1', '10.244.1.1', '10.244.2.1'])
      const last = await runWith(lab().inventoryPath, s)
      for (const h of lab().hosts) expect(last.doc.stats[h.name].changed, h.name).toBe(0)
    })
  })
}

membership('routes')
membership('wireguard')
