/**
 * container on a real lab host (own dockerd), over SSH: create with a static IP on a dockerNetwork network,
 * what dockerd and the kernel hold, packets between two probe containers, re-run, differ → recreate,
 * stopped → start, pull never with a missing image, absent, and every undo.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TaskFailed, type Undo } from '../../src/engine/types.ts'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import type { Connection } from '../../src/transport/types.ts'
import { container, type ContainerArgs, type ContainerInspect } from '../../src/tasks/container.ts'
import { dockerNetwork } from '../../src/tasks/dockerNetwork.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { labSkipReason, on, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { expectRunRefused, runTask, undoAll, type TaskRun } from '../helpers/task.ts'

const IMG = 'orchlab/busybox:latest'

async function inspect(lab: Lab, h: LabHost, name: string): Promise<ContainerInspect | null> {
  const r = await lab.exec(h, `docker container inspect --format '{{json .}}' ${name}`)
  return r.code === 0 ? (JSON.parse(r.stdout) as ContainerInspect) : null
}

/** What a container is, configuration-wise (what undo must give back). */
function config(c: ContainerInspect | null) {
  if (!c) return null
  const h = c.HostConfig
  return {
    image: c.Image,
    imageName: c.Config.Image,
    cmd: c.Config.Cmd,
    env: [...(c.Config.Env ?? [])].sort(),
    labels: c.Config.Labels,
    network: h.NetworkMode,
    ip: c.NetworkSettings?.Networks?.[h.NetworkMode ?? '']?.IPAMConfig?.IPv4Address,
    restart: h.RestartPolicy?.Name,
    init: h.Init,
    privileged: h.Privileged,
    capAdd: h.CapAdd,
    running: c.State.Running,
  }
}

const PROBE: ContainerArgs = {
  name: 'probe',
  image: IMG,
  pull: 'never',
  network: 'probes',
  ip: '10.30.0.10',
  command: ['sleep', '3600'],
  restart: 'unless-stopped',
  capAdd: ['NET_ADMIN'],
  env: { ROLE: 'probe', MSG: "it's a \"probe\"; $(reboot)" },
  labels: { 'org.orch.role': 'probe' },
}

describe.skipIf(labSkipReason)('container on a lab host', () => {
  const lab = withLab({ hosts: 1, docker: true })
  let h: LabHost
  let conn: Connection
  let before: Record<string, unknown>
  let netUndo: Undo | null
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
      [{ ...PROBE, name: 'probe;reboot' }, 'container.name'],
      [{ ...PROBE, image: '-v /:/host busybox' }, 'container.image'],
      [{ ...PROBE, network: undefined }, 'container.ip'],
      [{ ...PROBE, ip: '10.30.0.300' }, 'container.ip'],
      [{ ...PROBE, network: 'eth0;reboot' }, 'container.network'],
      [{ ...PROBE, pull: 'sometimes' }, 'container.pull'],
      [{ ...PROBE, restart: 'on-failure' }, 'container.restart'],
      [{ ...PROBE, command: 'sleep 3600' }, 'container.command'],
      [{ ...PROBE, capAdd: ['NET ADMIN'] }, 'container.capAdd[0]'],
      [{ ...PROBE, env: { 'A=B': 'x' } }, 'container.env.A=B'],
      [{ ...PROBE, init: 'yes' }, 'container.init'],
      [{ ...PROBE, state: 'running' }, 'container.state'],
    ]
    for (const [args, variable] of cases) await expectRunRefused(container(args as never), c, variable, JSON.stringify(args))
    expect(c.count).toBe(0)
  })

  it('check mode lists the creation and changes nothing', async () => {
    before = await snapshot(conn)
    netUndo = (await runTask(dockerNetwork({ name: 'probes', subnet: '10.30.0.0/24' }), conn)).undo
    const r = await runTask(container(PROBE), conn, { check: true })
    expect(r.changes.map((x) => x.what)).toEqual(['create container probe'])
    expect(r.changes[0].after).toContain('--ip 10.30.0.10')
    expect(await inspect(lab(), h, 'probe')).toBeNull()
  })

  it('creates the container: dockerd and the kernel hold what was asked', async () => {
    created = await runTask(container(PROBE), conn)
    expect(created.changed).toBe(true)
    const c = (await inspect(lab(), h, 'probe'))!
    expect(created.outcome && created.outcome.data?.id).toBe(c.Id)
    expect(config(c)).toMatchObject({
      imageName: IMG,
      cmd: ['sleep', '3600'],
      env: ["MSG=it's a \"probe\"; $(reboot)", 'ROLE=probe'],
      labels: { 'org.orch.role': 'probe' },
      network: 'probes',
      ip: '10.30.0.10',
      restart: 'unless-stopped',
      init: true,
      privileged: false,
      running: true,
    })
    // Inside: the address, an init as PID 1, and NET_ADMIN really granted (changing lo's MTU needs it).
    expect(await on(lab(), h, 'docker exec probe ip -4 addr show dev eth0')).toContain('inet 10.30.0.10/24')
    expect(await on(lab(), h, "docker exec probe sh -c 'tr \"\\0\" \" \" < /proc/1/cmdline'")).toMatch(/^\/sbin\/docker-init -- sleep 3600/)
    expect((await lab().exec(h, 'docker exec probe ip link set lo mtu 1280')).code).toBe(0)
    expect(await on(lab(), h, `docker exec probe sh -c 'echo "$MSG"'`)).toBe('it\'s a "probe"; $(reboot)\n')
  })

  it('packets cross between two probe containers on the network', async () => {
    const peer = await runTask(container({ name: 'peer', image: IMG, pull: 'never', network: 'probes', ip: '10.30.0.11', command: ['nc', '-l', '-p', '7000'] }), conn)
    try {
      const ping = await lab().exec(h, 'docker exec probe ping -c2 -W2 10.30.0.11')
      expect(ping.code, ping.stdout).toBe(0)
      const msg = `probe-data-${Date.now()}`
      expect((await lab().exec(h, `docker exec probe sh -c 'echo ${msg} | nc -w 3 10.30.0.11 7000'`)).code).toBe(0)
      let logs = ''
      for (let i = 0; i < 50 && !logs.includes(msg); i++) {
        logs = await on(lab(), h, 'docker logs peer 2>&1')
        if (!logs.includes(msg)) await new Promise((r) => setTimeout(r, 100))
      }
      expect(logs).toContain(msg)
    } finally {
      await undoAll(conn, [peer.undo])
    }
    expect(await inspect(lab(), h, 'peer')).toBeNull()
  })

  it('a re-run changes nothing (same container, same id)', async () => {
    const id = (await inspect(lab(), h, 'probe'))!.Id
    const r = await runTask(container(PROBE), conn)
    expect(r.changes).toEqual([])
    expect((await inspect(lab(), h, 'probe'))!.Id).toBe(id)
  })

  it('a different config recreates it; undo brings back the previous one', async () => {
    const old = await inspect(lab(), h, 'probe')
    const r = await runTask(container({ ...PROBE, env: { ROLE: 'probe2' }, ip: '10.30.0.20', restart: 'always' }), conn)
    expect(r.changes.map((x) => x.what)).toEqual(['ip', 'restart', 'env', 'recreate container probe'])
    const now = (await inspect(lab(), h, 'probe'))!
    expect(now.Id).not.toBe(old!.Id)
    expect(config(now)).toMatchObject({ ip: '10.30.0.20', restart: 'always', env: ['ROLE=probe2'], running: true })
    expect(await on(lab(), h, 'docker exec probe ip -4 addr show dev eth0')).toContain('inet 10.30.0.20/24')
    await undoAll(conn, [r.undo])
    expect(config(await inspect(lab(), h, 'probe'))).toEqual(config(old))
    expect(await on(lab(), h, 'docker exec probe ip -4 addr show dev eth0')).toContain('inet 10.30.0.10/24')
    expect((await runTask(container(PROBE), conn)).changes).toEqual([])
  })

  it('a stopped container is started; undo stops it again', async () => {
    await on(lab(), h, 'docker stop probe >/dev/null')
    const r = await runTask(container(PROBE), conn)
    expect(r.changes.map((x) => x.what)).toEqual(['start container probe'])
    expect((await inspect(lab(), h, 'probe'))!.State.Running).toBe(true)
    await undoAll(conn, [r.undo])
    expect((await inspect(lab(), h, 'probe'))!.State.Running).toBe(false)
    await on(lab(), h, 'docker start probe >/dev/null')
  })

  it("pull 'never' with an image the host lacks fails clearly and changes nothing", async () => {
    const e = await runTask(container({ ...PROBE, image: 'orchlab/missing:1' }), conn).catch((x) => x)
    expect(e).toBeInstanceOf(TaskFailed)
    expect(e.message).toContain("orchlab/missing:1 is not on node1 and container.pull is 'never'")
    expect(config(await inspect(lab(), h, 'probe'))?.imageName).toBe(IMG)
  })

  it('state absent removes it; undo recreates it as it was', async () => {
    const old = await inspect(lab(), h, 'probe')
    const r = await runTask(container({ name: 'probe', image: IMG, state: 'absent' }), conn)
    expect(r.changes.map((x) => x.what)).toEqual(['remove container probe'])
    expect(await inspect(lab(), h, 'probe')).toBeNull()
    expect((await runTask(container({ name: 'probe', image: IMG, state: 'absent' }), conn)).changes).toEqual([])
    await undoAll(conn, [r.undo])
    expect(config(await inspect(lab(), h, 'probe'))).toEqual(config(old))
  })

  it('undo of the creation (and of the network) returns the host to its snapshot', async () => {
    await undoAll(conn, [netUndo, created.undo])
    expect(await inspect(lab(), h, 'probe')).toBeNull()
    expect(await on(lab(), h, "docker ps -aq | wc -l")).toBe('0\n')
    expect(await snapshot(conn)).toEqual(before)
  })
})
