/**
 * dockerNetwork on a real lab host (own dockerd), over SSH: create, re-run, differ (refused with attached
 * containers, recreated without), undo back to the previous definition and to the snapshot, absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TaskFailed } from '../../src/engine/types.ts'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import type { Connection } from '../../src/transport/types.ts'
import { dockerNetwork, type NetworkInspect } from '../../src/tasks/dockerNetwork.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { labSkipReason, on, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { expectRunRefused, runTask, undoAll, type TaskRun } from '../helpers/task.ts'

const IMG = 'orchlab/busybox:latest'

/** The network's definition as dockerd holds it (without its id and creation time). */
async function definition(lab: Lab, h: LabHost, name: string): Promise<Partial<NetworkInspect> | null> {
  const r = await lab.exec(h, `docker network inspect --format '{{json .}}' ${name}`)
  if (r.code !== 0) return null
  const { Id: _id, Created: _c, Containers: _k, ...rest } = JSON.parse(r.stdout) as NetworkInspect & { Created: string; Containers: unknown }
  return rest
}

const ARGS = { name: 'orchnet', subnet: '10.20.0.0/24', gateway: '10.20.0.1', ipRange: '10.20.0.128/25', bridgeName: 'br-orch', mtu: 1400 }

describe.skipIf(labSkipReason)('dockerNetwork on a lab host', () => {
  const lab = withLab({ hosts: 1, docker: true })
  let h: LabHost
  let conn: Connection
  let before: Record<string, unknown>
  let created: TaskRun

  beforeAll(async () => {
    h = lab().hosts[0]
    conn = await sshTo(lab(), h)
  })
  afterAll(async () => {
    await conn?.close()
  })

  it('refuses bad arguments, naming the variable, before any command', async () => {
    const c = counting(conn)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ARGS, subnet: '10.0.0.0/33' }, 'dockerNetwork.subnet'],
      [{ ...ARGS, subnet: '10.20.0.1/24' }, 'dockerNetwork.subnet'],
      [{ ...ARGS, name: 'net;reboot' }, 'dockerNetwork.name'],
      [{ ...ARGS, name: 'bridge' }, 'dockerNetwork.name'],
      [{ ...ARGS, gateway: '10.21.0.1' }, 'dockerNetwork.gateway'],
      [{ ...ARGS, ipRange: '10.21.0.0/25' }, 'dockerNetwork.ipRange'],
      [{ ...ARGS, bridgeName: 'eth0;reboot' }, 'dockerNetwork.bridgeName'],
      [{ ...ARGS, mtu: 20 }, 'dockerNetwork.mtu'],
      [{ ...ARGS, driver: 'overlay' }, 'dockerNetwork.driver'],
    ]
    for (const [args, variable] of cases) await expectRunRefused(dockerNetwork(args as never), c, variable, JSON.stringify(args))
    expect(c.count).toBe(0)
  })

  it('check mode lists the creation and changes nothing', async () => {
    before = await snapshot(conn)
    const r = await runTask(dockerNetwork(ARGS), conn, { check: true })
    expect(r.changes.map((x) => x.what)).toEqual(['create network orchnet'])
    expect(r.changes[0].after).toContain('--subnet 10.20.0.0/24')
    expect(await snapshot(conn)).toEqual(before)
    expect(await definition(lab(), h, 'orchnet')).toBeNull()
  })

  it('creates the network: dockerd, the kernel bridge and a container on it agree', async () => {
    created = await runTask(dockerNetwork(ARGS), conn)
    expect(created.changed).toBe(true)
    const d = await definition(lab(), h, 'orchnet')
    expect(d?.Driver).toBe('bridge')
    expect(d?.IPAM?.Config).toEqual([{ Subnet: '10.20.0.0/24', Gateway: '10.20.0.1', IPRange: '10.20.0.128/25' }])
    expect(d?.Options).toEqual({ 'com.docker.network.bridge.name': 'br-orch', 'com.docker.network.driver.mtu': '1400' })
    const addr = JSON.parse(await on(lab(), h, 'ip -j -4 addr show dev br-orch'))
    expect(addr[0].addr_info.map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)).toEqual(['10.20.0.1/24'])
    // A container on it: an address from the range, the MTU, and the gateway answers.
    await on(lab(), h, `docker run -d --init --pull never --network orchnet --name c1 ${IMG} sleep 3600`)
    const ip = (await on(lab(), h, "docker inspect --format '{{.NetworkSettings.Networks.orchnet.IPAddress}}' c1")).trim()
    expect(ip).toMatch(/^10\.20\.0\.(1(2[89]|[3-9]\d)|2\d\d)$/)
    expect((await on(lab(), h, 'docker exec c1 cat /sys/class/net/eth0/mtu')).trim()).toBe('1400')
    expect((await lab().exec(h, 'docker exec c1 ping -c1 -W2 10.20.0.1')).code).toBe(0)
  })

  it('a re-run changes nothing', async () => {
    const r = await runTask(dockerNetwork(ARGS), conn)
    expect(r.changes).toEqual([])
    expect(r.changed).toBe(false)
    // Unspecified settings are docker's choice: not a difference.
    expect((await runTask(dockerNetwork({ name: 'orchnet', subnet: '10.20.0.0/24' }), conn)).changes).toEqual([])
  })

  it('other settings with a container attached: refused, naming the container; nothing changed', async () => {
    const d = await definition(lab(), h, 'orchnet')
    await on(lab(), h, 'docker stop c1 >/dev/null') // stopped containers count too
    const e = await runTask(dockerNetwork({ ...ARGS, mtu: 1450 }), conn).catch((x) => x)
    expect(e).toBeInstanceOf(TaskFailed)
    expect(e.message).toContain('c1')
    expect(e.message).toContain('mtu 1400, want 1450')
    expect(await definition(lab(), h, 'orchnet')).toEqual(d)
    await on(lab(), h, 'docker rm -f c1 >/dev/null')
  })

  it('other settings without containers: recreated; undo restores the previous definition', async () => {
    const d = await definition(lab(), h, 'orchnet')
    const r = await runTask(dockerNetwork({ ...ARGS, mtu: 1450, ipRange: '10.20.0.64/26' }), conn)
    expect(r.changes.map((x) => x.what)).toEqual(['network orchnet ipRange', 'network orchnet mtu', 'recreate network orchnet'])
    expect((await definition(lab(), h, 'orchnet'))?.Options?.['com.docker.network.driver.mtu']).toBe('1450')
    expect((await definition(lab(), h, 'orchnet'))?.IPAM?.Config?.[0].IPRange).toBe('10.20.0.64/26')
    await undoAll(conn, [r.undo])
    expect(await definition(lab(), h, 'orchnet')).toEqual(d)
    // A new network object (new id; its bridge gets a new MAC), with the old definition: the kernel agrees.
    await on(lab(), h, `docker run -d --init --pull never --network orchnet --name c2 ${IMG} sleep 3600`)
    expect((await on(lab(), h, 'docker exec c2 cat /sys/class/net/eth0/mtu')).trim()).toBe('1400')
    expect((await on(lab(), h, "docker inspect --format '{{.NetworkSettings.Networks.orchnet.IPAddress}}' c2")).trim()).toMatch(/^10\.20\.0\.(1(2[89]|[3-9]\d)|2\d\d)$/)
    await on(lab(), h, 'docker rm -f c2 >/dev/null')
  })

  it('state absent removes it; its undo brings it back', async () => {
    const d = await definition(lab(), h, 'orchnet')
    const r = await runTask(dockerNetwork({ name: 'orchnet', subnet: '10.20.0.0/24', state: 'absent' }), conn)
    expect(r.changes.map((x) => x.what)).toEqual(['remove network orchnet'])
    expect(await definition(lab(), h, 'orchnet')).toBeNull()
    expect((await runTask(dockerNetwork({ name: 'orchnet', subnet: '10.20.0.0/24', state: 'absent' }), conn)).changes).toEqual([])
    await undoAll(conn, [r.undo])
    expect(await definition(lab(), h, 'orchnet')).toEqual(d)
  })

  it('undo of the creation returns the host to its snapshot', async () => {
    await undoAll(conn, [created.undo])
    expect(await definition(lab(), h, 'orchnet')).toBeNull()
    expect(await snapshot(conn)).toEqual(before)
  })
})
