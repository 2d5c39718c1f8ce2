/**
 * orch's own ssh2 transport into lab hosts, for task-level lab tests, and a Connection wrapper that
 * counts round trips (a second run must change nothing in one; a refused argument must cost none).
 */
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { connect } from '../../src/transport/index.ts'
import type { Connection } from '../../src/transport/types.ts'

/** root@host with the lab's key and known_hosts only: strict host key checking, no ssh config, no agent. */
export function sshTo(lab: Lab, h: LabHost): Promise<Connection> {
  return connect({
    hostName: h.name,
    address: h.address,
    user: 'root',
    privateKeyFile: lab.keyPath,
    knownHostsFiles: [lab.knownHostsPath],
    hostKeyChecking: 'strict',
    sshConfigPath: null,
    agentSocket: null,
  })
}

/** `c` with a count of its round trips (run calls) so far; upload and close go through to `c`. */
export function counting(c: Connection): Connection & { count: number } {
  const w = {
    count: 0,
    hostName: c.hostName,
    get alive() {
      return c.alive
    },
    run: (s: string, o?: Parameters<Connection['run']>[1]) => {
      w.count++
      return c.run(s, o)
    },
    upload: (p: string, d: string | Buffer, m?: number) => c.upload(p, d, m),
    close: () => c.close(),
  }
  return w
}
