/**
 * The wireguard strategy's persisted file (model/persist.ts wgData) and how orch-wireguard.service's
 * script splits it: orch's own lines for the script, then the part `wg setconf` takes — cut with the
 * script's own sed line, run by the real sed. The booted suite (test/boot/persist-wireguard.boot.ts) runs
 * the whole script at boot.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { wgData, wgDataPath, WIREGUARD, type WgPersisted } from '../../src/model/persist.ts'

const A = 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY='
const B = 'McPYEIp58ejHRQ1V1UQcBqAHxYw2op/vj5ava5bmNSY='
const W: WgPersisted = {
  device: 'orch-wg0',
  impl: 'userspace',
  mtu: 1440,
  keyFile: '/etc/orch/wireguard/orch-wg0.key',
  listenPort: 51820,
  peers: [
    { publicKey: A, endpoint: '198.18.0.2:51820', allowedIps: ['10.244.1.0/24'], keepalive: 25, label: 'node2' },
    { publicKey: B, allowedIps: ['10.244.2.0/24', '10.244.9.0/24'], keepalive: 0, label: 'bad label' },
  ],
}

describe('wireguard persisted file', () => {
  it('orch lines (device, datapath, MTU, the key file by path), then [Interface] and one [Peer] each; no private key', () => {
    expect(wgDataPath('orch-wg0')).toBe('/etc/orch/wireguard/orch-wg0.conf')
    expect(wgData(W)).toBe(
      [
        '# orch wireguard orch-wg0',
        'device orch-wg0',
        'impl userspace',
        'mtu 1440',
        'private-key-file /etc/orch/wireguard/orch-wg0.key',
        '[Interface]',
        'ListenPort = 51820',
        '',
        '[Peer]',
        '# node2',
        `PublicKey = ${A}`,
        'AllowedIPs = 10.244.1.0/24',
        'Endpoint = 198.18.0.2:51820',
        'PersistentKeepalive = 25',
        '',
        '[Peer]',
        `PublicKey = ${B}`,
        'AllowedIPs = 10.244.2.0/24, 10.244.9.0/24',
        '',
      ].join('\n'),
    )
    expect(wgData(W)).not.toMatch(/PrivateKey/)
  })

  it("the script's sed gives wg setconf exactly the part from [Interface] on", () => {
    const line = WIREGUARD.scriptText.split('\n').find((l) => l.includes('| wg setconf'))!
    const sedScript = /sed -n '([^']+)'/.exec(line)![1]
    const out = execFileSync('sed', ['-n', sedScript], { input: wgData(W) }).toString()
    expect(out).toBe(wgData(W).slice(wgData(W).indexOf('[Interface]')))
  })

  it('refuses a word that would break the file (a newline, a space) instead of writing it', () => {
    expect(() => wgData({ ...W, keyFile: '/etc/orch/x.key\nPostUp = sh' })).toThrow(/cannot be persisted/)
    expect(() => wgData({ ...W, peers: [{ ...W.peers[0], endpoint: '198.18.0.2:51820 x' }] })).toThrow(/cannot be persisted/)
  })
})
