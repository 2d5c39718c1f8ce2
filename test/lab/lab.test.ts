import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { shLocal } from '../../src/lab/exec.ts'
import { down, up } from '../../src/lab/index.ts'
import { labSkipReason, ssh, uniquePrefix, withLab } from '../helpers/lab.ts'

describe.skipIf(labSkipReason)('lab with docker and OVS', () => {
  const lab = withLab({ hosts: 3, docker: true, ovs: true })

  it('each host has its own hostname over ssh', async () => {
    for (const h of lab().hosts) {
      const r = await ssh(lab(), h.address, 'hostname')
      expect(r.stderr).toBe('')
      expect(r.stdout.trim()).toBe(h.name)
    }
  })

  it('has eth0 on the LAN, a default route via the gateway and ip_forward as a fresh host', async () => {
    const [h] = lab().hosts
    const addr = JSON.parse((await ssh(lab(), h.address, 'ip -j addr show dev eth0')).stdout)
    const route = JSON.parse((await ssh(lab(), h.address, 'ip -j route show default')).stdout)
    expect(addr[0].addr_info.map((a: { local: string }) => a.local)).toContain(h.address)
    expect(route[0].gateway).toBe(lab().gateway)
    // dockerd turns forwarding on, as on a real host; before it starts the host has 0 (bare lab below).
  })

  it('keeps /root, /etc/docker and /etc private to each host', async () => {
    const [a, b] = lab().hosts
    const mark = `private-${Date.now()}`
    expect((await ssh(lab(), a.address, `echo ${mark} > /root/mark && mkdir -p /etc/docker && echo ${mark} > /etc/docker/mark`)).code).toBe(0)
    expect((await ssh(lab(), a.address, 'cat /root/mark /etc/docker/mark')).stdout).toBe(`${mark}\n${mark}\n`)
    expect((await ssh(lab(), b.address, 'cat /root/mark /etc/docker/mark')).code).not.toBe(0)
    expect(existsSync('/etc/docker/mark')).toBe(false)
    expect(existsSync('/root/mark')).toBe(false)
  })

  it('writes to /usr, /opt, /srv, /var and /tmp in a host never reach the machine', async () => {
    const [a] = lab().hosts
    const mark = `orch-lab-mark-${Date.now()}`
    const paths = ['/usr/local/share', '/opt', '/srv', '/var/tmp', '/tmp'].map((d) => `${d}/${mark}`)
    expect((await ssh(lab(), a.address, `touch ${paths.join(' ')} && ls ${paths.join(' ')}`)).code).toBe(0)
    for (const p of paths) expect(existsSync(p), p).toBe(false)
  })

  it('hosts ping each other across the LAN', async () => {
    const [a, b, c] = lab().hosts
    const r = await ssh(lab(), a.address, `ping -c1 -W2 ${b.address} && ping -c1 -W2 ${c.address}`)
    expect(r.code).toBe(0)
  })

  it('each dockerd runs a container from the offline image', async () => {
    await Promise.all(
      lab().hosts.map(async (h) => {
        const r = await ssh(lab(), h.address, `docker run --rm --pull never ${lab().image} cat /proc/sys/kernel/hostname`)
        expect(r.code, r.stderr).toBe(0)
        expect(r.stdout.trim()).toMatch(/^[0-9a-f]{12}$/)
      }),
    )
  })

  it('systemctl stand-in restarts docker', async () => {
    const [h] = lab().hosts
    const r = await ssh(lab(), h.address, 'systemctl restart docker && systemctl is-active docker && docker info --format {{.ServerVersion}}')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^active\n\d+\.\d+/)
  })

  it('each host answers ovs-vsctl show', async () => {
    for (const h of lab().hosts) {
      const r = await ssh(lab(), h.address, 'ovs-vsctl show')
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/ovs_version/)
    }
  })

  it('reaches the second controller address only through the host default route', async () => {
    const [h] = lab().hosts
    const bind = ['-b', lab().controllerIp2]
    expect((await ssh(lab(), h.address, 'true', bind)).code).toBe(0)
    await lab().exec(h, 'ip route del default')
    try {
      expect((await ssh(lab(), h.address, 'true', [...bind, '-o', 'ConnectTimeout=2'])).code).not.toBe(0)
    } finally {
      await lab().exec(h, `ip route add default via ${lab().gateway}`)
    }
    expect((await ssh(lab(), h.address, 'true', bind)).code).toBe(0)
  })
})

/** Alive and not a zombie waiting for the machine's init to reap it. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

describe.skipIf(labSkipReason)('bare lab host', () => {
  const lab = withLab({ hosts: 1 })
  it('starts with ip_forward=0 like a fresh host', async () => {
    expect((await ssh(lab(), lab().hosts[0].address, 'cat /proc/sys/net/ipv4/ip_forward')).stdout).toBe('0\n')
  })
})

describe.skipIf(labSkipReason)('lab with an MTU of 1400 and an IPv6 underlay', () => {
  const lab = withLab({ hosts: 2, mtu: 1400, ipv6: true })
  it('gives every LAN port the MTU, and the hosts 2001:2:0:I::N/64 reaching each other and the switch', async () => {
    const [a, b] = lab().hosts
    expect(lab().lanCidr6).toBe(`2001:2:0:${lab().slot.toString(16)}::/64`)
    expect(b.address6).toBe(`2001:2:0:${lab().slot.toString(16)}::2`)
    for (const h of lab().hosts) expect((await ssh(lab(), h.address, 'cat /sys/class/net/eth0/mtu')).stdout).toBe('1400\n')
    const sw = (await shLocal(`ip -n ${lab().switchNs} -j link show`)).stdout
    expect((JSON.parse(sw) as Array<{ mtu: number; ifname: string }>).filter((l) => l.ifname !== 'lo').map((l) => l.mtu)).toEqual(expect.arrayContaining([1400]))
    expect((JSON.parse(sw) as Array<{ mtu: number; ifname: string }>).filter((l) => l.ifname !== 'lo' && l.mtu !== 1400)).toEqual([])
    // A full-size IPv4 packet crosses with DF, one byte more does not.
    expect((await ssh(lab(), a.address, `ping -c 1 -W 2 -M do -s 1372 ${b.address}`)).code).toBe(0)
    expect((await ssh(lab(), a.address, `ping -c 1 -W 2 -M do -s 1373 ${b.address}`)).code).not.toBe(0)
    expect((await ssh(lab(), a.address, `ping -6 -c 1 -W 2 ${b.address6} && ping -6 -c 1 -W 2 ${lab().gateway6}`)).code).toBe(0)
    expect(readFileSync(lab().inventoryPath, 'utf8')).toContain(`node2 ansible_host=${b.address} lab_address6=${b.address6}`)
    // IPv6 stays inside the lab: the controller's end has no global address.
    expect((await shLocal(`ip -6 -o addr show dev ${lab().controllerVeth} scope global`)).stdout).toBe('')
  })
})

describe.skipIf(labSkipReason)('lab teardown', () => {
  it('leaves no namespace, veth, mount, process or file behind', async () => {
    const lab = await up({ hosts: 2, docker: true, prefix: uniquePrefix() })
    const pids = (await shLocal(`ip netns pids ${lab.hosts[0].ns}`)).stdout.split(/\s+/).filter(Boolean)
    expect(pids.length).toBeGreaterThan(2) // tini, sshd, dockerd, containerd ...
    await down(lab.prefix)
    const ns = (await shLocal('ip netns list')).stdout
    expect(ns).not.toContain(`${lab.prefix}-`)
    expect((await shLocal('ip -br link')).stdout).not.toContain(`${lab.prefix}-ctl`)
    expect((await shLocal('cat /proc/self/mounts')).stdout).not.toContain(lab.dir)
    for (const p of pids) expect(running(Number(p)), `pid ${p}`).toBe(false)
    expect(existsSync(lab.dir)).toBe(false)
  })

  it('cleans up after a crashed run that lost its state file', async () => {
    const lab = await up({ hosts: 1, prefix: uniquePrefix() })
    await shLocal(`rm -f ${lab.dir}/state.json`)
    await down(lab.prefix)
    expect((await shLocal('ip netns list')).stdout).not.toContain(`${lab.prefix}-`)
    expect((await shLocal('ip -br link')).stdout).not.toContain(`${lab.prefix}-ctl`)
  })

  it('runs two labs side by side on distinct subnets', async () => {
    const [a, b] = await Promise.all([up({ hosts: 1, prefix: uniquePrefix() }), up({ hosts: 1, prefix: uniquePrefix() })])
    try {
      expect(a.lanCidr).not.toBe(b.lanCidr)
      expect((await ssh(a, a.hosts[0].address, 'hostname')).code).toBe(0)
      expect((await ssh(b, b.hosts[0].address, 'hostname')).code).toBe(0)
    } finally {
      await Promise.all([a.down(), b.down()])
    }
  })
})
