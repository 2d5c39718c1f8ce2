/**
 * dockerBip on real lab hosts (own dockerd each), over SSH: daemon.json merge, one docker restart,
 * containers back, check mode, idempotence, refusals (bad bip before any command, overlapping route),
 * traffic between containers on two hosts, and undo back to the snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ArgError, TaskFailed, type Undo } from '../../src/engine/types.ts'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import type { Connection } from '../../src/transport/types.ts'
import { dockerBip } from '../../src/tasks/dockerBip.ts'
import { forwardAccept } from '../../src/tasks/forward.ts'
import { route } from '../../src/tasks/route.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { labSkipReason, on, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { expectRunRefused, runTask, undoAll, type TaskRun } from '../helpers/task.ts'

const IMG = 'orchlab/busybox:latest'

/**
 * The host's snapshot without the IPv6 multicast route (ff00::/8, table local) the kernel adds the first
 * time an interface gets carrier: like the fe80:: routes snapshot() already drops, it is not configuration
 * (docker0 gets carrier when the traffic test's container attaches, and keeps the route).
 */
async function state(c: Connection): Promise<Record<string, unknown>> {
  const s = await snapshot(c)
  const routes = s.routes as Array<{ dst?: string; type?: string; protocol?: string }>
  return { ...s, routes: routes.filter((r) => !(r.dst === 'ff00::/8' && r.type === 'multicast' && r.protocol === 'kernel')) }
}

const docker0 = async (lab: Lab, h: LabHost): Promise<string[]> =>
  (JSON.parse(await on(lab, h, 'ip -j -4 addr show dev docker0')) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)[0].addr_info.map(
    (a) => `${a.local}/${a.prefixlen}`,
  )
const dockerdPid = async (lab: Lab, h: LabHost) => Number((await on(lab, h, 'cat /run/docker.pid')).trim())
const running = async (lab: Lab, h: LabHost, name: string) => (await on(lab, h, `docker inspect --format '{{.State.Running}}' ${name}`)).trim() === 'true'
const ipOf = async (lab: Lab, h: LabHost, name: string) => (await on(lab, h, `docker inspect --format '{{.NetworkSettings.IPAddress}}' ${name}`)).trim()

describe.skipIf(labSkipReason)('dockerBip on lab hosts', () => {
  const lab = withLab({ hosts: 2, docker: true })
  let A: LabHost, B: LabHost
  let ca: Connection, cb: Connection
  const EXISTING = '{\n  "log-level": "warn",\n  "storage-driver": "overlay2"\n}\n'
  let runA: TaskRun, runB: TaskRun
  let snapB: Record<string, unknown>
  const B_ARGS = { bip: '10.1.2.1/24', mtu: 1400, defaultAddressPools: [{ base: '10.210.0.0/16', size: 24 }] }

  beforeAll(async () => {
    ;[A, B] = lab().hosts
    ;[ca, cb] = await Promise.all([sshTo(lab(), A), sshTo(lab(), B)])
  })
  afterAll(async () => {
    await Promise.all([ca?.close(), cb?.close()])
  })

  it('refuses a network address as bip (naming bip, suggesting the host address) before any command', async () => {
    const c = counting(ca)
    const err = await runTask(dockerBip('10.1.0.0/24'), c).catch((e) => e)
    expect(err).toBeInstanceOf(ArgError)
    expect(err.variable).toBe('dockerBip.bip')
    expect(err.message).toContain('10.1.0.1/24')
    for (const [args, variable] of [
      [{ bip: '10.0.0.0/33' }, 'dockerBip.bip'],
      [{ bip: '10.1.1.255/24' }, 'dockerBip.bip'],
      [{ bip: '10.1.1.1/24;reboot' }, 'dockerBip.bip'],
      [{ bip: '10.1.1.1/24', mtu: 20 }, 'dockerBip.mtu'],
      [{ bip: '10.1.1.1/24', defaultAddressPools: [{ base: '10.200.0.1/16', size: 24 }] }, 'dockerBip.defaultAddressPools[0].base'],
      [{ bip: '10.1.1.1/24', defaultAddressPools: [{ base: '10.200.0.0/16', size: 8 }] }, 'dockerBip.defaultAddressPools[0].size'],
    ] as const)
      await expectRunRefused(dockerBip(args as never), c, variable, JSON.stringify(args))
    expect(c.count).toBe(0)
  })

  it('check mode on a fresh host lists the changes and changes nothing', async () => {
    snapB = await state(cb)
    const pid = await dockerdPid(lab(), B)
    const r = await runTask(dockerBip(B_ARGS), cb, { check: true })
    expect(r.changed).toBe(true)
    expect(r.changes.map((c) => c.what)).toEqual([
      '/etc/docker/daemon.json "bip"',
      '/etc/docker/daemon.json "mtu"',
      '/etc/docker/daemon.json "default-address-pools"',
      'restart docker',
    ])
    expect(r.changes[0]).toMatchObject({ before: '(unset)', after: '"10.1.2.1/24"' })
    expect(await state(cb)).toEqual(snapB)
    expect(await dockerdPid(lab(), B)).toBe(pid)
    expect((await lab().exec(B, 'test -e /etc/docker/daemon.json')).code).not.toBe(0)
  })

  it('merges into daemon.json keeping other keys, restarts docker once, brings running containers back', async () => {
    await on(lab(), A, `mkdir -p /etc/docker && printf '%s' '${EXISTING}' > /etc/docker/daemon.json && systemctl restart docker`)
    await on(
      lab(),
      A,
      `docker run -d --init --pull never --name plain ${IMG} sleep 3600 >/dev/null &&
       docker run -d --init --pull never --restart always --name always ${IMG} sleep 3600 >/dev/null &&
       docker run -d --init --pull never --rm --name ephemeral ${IMG} sleep 3600 >/dev/null`,
    )
    expect(await docker0(lab(), A)).toEqual(['172.17.0.1/16'])
    const pid = await dockerdPid(lab(), A)

    runA = await runTask(dockerBip({ bip: '10.1.1.1/24' }), ca)
    expect(runA.changed).toBe(true)
    expect(runA.changes.map((c) => c.what)).toContain('restart docker')
    expect(runA.changes.find((c) => c.what.startsWith('containers running again'))?.after).toBe('always, plain (docker start)')

    // The file: other keys kept in place, bip appended, 2-space JSON.
    expect(await on(lab(), A, 'cat /etc/docker/daemon.json')).toBe('{\n  "log-level": "warn",\n  "storage-driver": "overlay2",\n  "bip": "10.1.1.1/24"\n}\n')
    // The kernel and the daemon.
    expect(await docker0(lab(), A)).toEqual(['10.1.1.1/24'])
    const ipam = JSON.parse(await on(lab(), A, "docker network inspect --format '{{json .IPAM.Config}}' bridge"))
    expect(ipam).toEqual([{ Subnet: '10.1.1.0/24', Gateway: '10.1.1.1' }])
    // Restarted: a new dockerd, whose PID the task reported.
    const pid2 = await dockerdPid(lab(), A)
    expect(pid2).not.toBe(pid)
    expect(runA.outcome && runA.outcome.data?.dockerdPid).toBe(pid2)
    // Both containers that could come back run, on the new subnet.
    expect(await running(lab(), A, 'plain')).toBe(true)
    expect(await running(lab(), A, 'always')).toBe(true)
    expect(await ipOf(lab(), A, 'plain')).toMatch(/^10\.1\.1\.\d+$/)
    expect(runA.outcome && runA.outcome.data?.startedAgain).toEqual(['plain'])
    expect(runA.outcome && runA.outcome.data?.removed).toEqual(['ephemeral'])
  })

  it('a second apply changes nothing and does not restart docker', async () => {
    const pid = await dockerdPid(lab(), A)
    const file = await on(lab(), A, 'cat /etc/docker/daemon.json')
    const r = await runTask(dockerBip({ bip: '10.1.1.1/24' }), ca)
    expect(r.changes).toEqual([])
    expect(r.changed).toBe(false)
    expect(await dockerdPid(lab(), A)).toBe(pid)
    expect(await on(lab(), A, 'cat /etc/docker/daemon.json')).toBe(file)
  })

  it('refuses a bip that overlaps a route of the host, naming the route, without touching it', async () => {
    await on(lab(), A, `ip route add 10.77.0.0/16 via ${lab().gateway}`)
    try {
      const pid = await dockerdPid(lab(), A)
      const file = await on(lab(), A, 'cat /etc/docker/daemon.json')
      const e = await runTask(dockerBip('10.77.3.1/24'), ca).catch((x) => x)
      expect(e).toBeInstanceOf(TaskFailed)
      expect(e.message).toContain(`10.77.0.0/16 via ${lab().gateway} dev eth0`)
      expect(e.message).toContain('dockerBip.bip')
      // The LAN itself.
      const lanHost = lab().lanCidr.replace(/\.0\/24$/, '.100/24')
      const e2 = await runTask(dockerBip(lanHost), ca).catch((x) => x)
      expect(e2).toBeInstanceOf(TaskFailed)
      expect(e2.message).toContain(`${lab().lanCidr} dev eth0`)
      expect(await dockerdPid(lab(), A)).toBe(pid)
      expect(await on(lab(), A, 'cat /etc/docker/daemon.json')).toBe(file)
    } finally {
      await on(lab(), A, 'ip route del 10.77.0.0/16')
    }
  })

  it('traffic crosses: a container on A pings and sends TCP data to a container on B', async () => {
    runB = await runTask(dockerBip(B_ARGS), cb)
    expect(runB.changed).toBe(true)
    expect(await docker0(lab(), B)).toEqual(['10.1.2.1/24'])
    expect(JSON.parse(await on(lab(), B, 'cat /etc/docker/daemon.json'))).toEqual({
      bip: '10.1.2.1/24',
      mtu: 1400,
      'default-address-pools': [{ base: '10.210.0.0/16', size: 24 }],
    })
    expect((await on(lab(), B, `docker network inspect --format '{{index .Options "com.docker.network.driver.mtu"}}' bridge`)).trim()).toBe('1400')
    // The pools are what dockerd now carves user-defined networks from.
    const sub = await on(lab(), B, "docker network create poolnet >/dev/null && docker network inspect --format '{{(index .IPAM.Config 0).Subnet}}' poolnet; docker network rm poolnet >/dev/null")
    expect(sub.trim()).toMatch(/^10\.210\.\d+\.0\/24$/)
    expect((await runTask(dockerBip(B_ARGS), cb)).changed).toBe(false)

    await on(lab(), B, `docker run -d --init --pull never --name srv ${IMG} nc -l -p 5000`)
    const srv = await ipOf(lab(), B, 'srv')
    expect(srv).toMatch(/^10\.1\.2\.\d+$/)
    const probe = (script: string) => lab().exec(A, `docker run --rm --init --pull never ${IMG} sh -c '${script}'`)

    // Without routes between the container subnets nothing crosses (the test can fail).
    expect((await probe(`ping -c1 -W1 ${srv}`)).code).not.toBe(0)

    // Routes between the container subnets and forwarding into docker0, with the route and forwarding tasks.
    const undosA: Array<Undo | null> = []
    const undosB: Array<Undo | null> = []
    try {
      undosA.push((await runTask(route({ to: '10.1.2.0/24', via: B.address }), ca)).undo)
      undosB.push((await runTask(route({ to: '10.1.1.0/24', via: A.address }), cb)).undo)
      undosB.push((await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), cb)).undo)
      const ping = await probe(`ping -c2 -W2 ${srv}`)
      expect(ping.code, ping.stdout + ping.stderr).toBe(0)
      expect(ping.stdout).toContain('2 packets received')
      const msg = `hello-from-${A.name}-${Date.now()}`
      // The probe is a `docker run --rm` container: its network namespace goes the moment nc exits, with
      // whatever is still queued in it. nc keeps its stdin (and so the connection) open a second after the
      // message: it has left the namespace by then (the full suite, loaded, once lost it).
      const nc = await probe(`(echo ${msg}; sleep 1) | nc -w 3 ${srv} 5000`)
      expect(nc.code, nc.stderr).toBe(0)
      let got = ''
      for (let i = 0; i < 50 && !got.includes(msg); i++) {
        got = await on(lab(), B, 'docker logs srv 2>&1')
        if (!got.includes(msg)) await new Promise((r) => setTimeout(r, 100))
      }
      expect(got).toContain(msg)
    } finally {
      await undoAll(ca, undosA)
      await undoAll(cb, undosB)
      await on(lab(), B, 'docker rm -f srv >/dev/null')
    }
  })

  it('undo on a fresh host: daemon.json removed, docker0 back to 172.17.0.1/16, snapshot equal', async () => {
    expect(runB.undo?.script).toBeTruthy()
    const pid = await dockerdPid(lab(), B)
    await undoAll(cb, [runB.undo])
    expect(await dockerdPid(lab(), B)).not.toBe(pid)
    expect((await lab().exec(B, 'test -e /etc/docker/daemon.json')).code).not.toBe(0)
    expect(await docker0(lab(), B)).toEqual(['172.17.0.1/16'])
    expect((await on(lab(), B, `docker network inspect --format '{{index .Options "com.docker.network.driver.mtu"}}' bridge`)).trim()).toBe('1500')
    expect(await state(cb)).toEqual(snapB)
  })

  it('only the file changes when dockerd already runs with that bip: no restart; undo removes the file', async () => {
    const pid = await dockerdPid(lab(), B)
    const r = await runTask(dockerBip('172.17.0.1/16'), cb)
    expect(r.changes.map((c) => c.what)).toEqual(['/etc/docker/daemon.json "bip"'])
    expect(await on(lab(), B, 'cat /etc/docker/daemon.json')).toBe('{\n  "bip": "172.17.0.1/16"\n}\n')
    expect(r.undo?.script).not.toContain('restart')
    await undoAll(cb, [r.undo])
    expect((await lab().exec(B, 'test -e /etc/docker/daemon.json')).code).not.toBe(0)
    expect(await dockerdPid(lab(), B)).toBe(pid)
    expect(await state(cb)).toEqual(snapB)
  })

  it('live-restore: running containers are stopped for the restart and come back on the new subnet; undo too', async () => {
    const LIVE = '{\n  "live-restore": true\n}\n'
    await on(lab(), B, `printf '%s' '${LIVE}' > /etc/docker/daemon.json && systemctl restart docker`)
    await on(lab(), B, `docker run -d --init --pull never --restart always --name lr ${IMG} sleep 3600 >/dev/null`)
    const r = await runTask(dockerBip('10.1.3.1/24'), cb)
    expect(r.changes.find((c) => c.what.startsWith('containers stopped for the restart'))?.after).toBe('lr (docker start)')
    expect(await docker0(lab(), B)).toEqual(['10.1.3.1/24'])
    expect(await running(lab(), B, 'lr')).toBe(true)
    expect(await ipOf(lab(), B, 'lr')).toMatch(/^10\.1\.3\.\d+$/)
    await undoAll(cb, [r.undo])
    expect(await on(lab(), B, 'cat /etc/docker/daemon.json')).toBe(LIVE)
    expect(await docker0(lab(), B)).toEqual(['172.17.0.1/16'])
    expect(await running(lab(), B, 'lr')).toBe(true)
    expect(await ipOf(lab(), B, 'lr')).toMatch(/^172\.17\.\d+\.\d+$/)
  })

  it('undo on a host with containers: daemon.json byte-exact, docker0 back, the containers running again', async () => {
    await undoAll(ca, [runA.undo])
    expect(await on(lab(), A, 'cat /etc/docker/daemon.json')).toBe(EXISTING)
    expect(await docker0(lab(), A)).toEqual(['172.17.0.1/16'])
    expect(await running(lab(), A, 'plain')).toBe(true)
    expect(await running(lab(), A, 'always')).toBe(true)
    expect(await ipOf(lab(), A, 'plain')).toMatch(/^172\.17\.\d+\.\d+$/)
    // And the task now sees the work to do again.
    const r = await runTask(dockerBip('10.1.1.1/24'), ca, { check: true })
    expect(r.changes.map((c) => c.what)).toContain('restart docker')
  })
})
