#!/usr/bin/env node
// A TCP relay that delays every byte by half a round-trip time each way: WAN latency between the
// controller and a lab host's sshd, on a kernel without netem. Started by src/lab/delay.ts (one process
// for all the lab's hosts), ended by it by PID.
//
//   node delay-relay.mjs '[{"listen":"127.0.0.1","target":"198.18.0.1","targetPort":22,"rttMs":50}, ...]'
//
// Binds each listener (port 0: the kernel picks), prints one JSON line with the ports in order, then
// relays until killed. Bytes keep their order (one timer list per delay in node keeps insertion order).
import net from 'node:net'

const routes = JSON.parse(process.argv[2])

function pipe(from, to, delay) {
  from.on('data', (d) => {
    if (delay <= 0) to.write(d)
    else setTimeout(() => to.destroyed || to.write(d), delay)
  })
  from.on('end', () => (delay <= 0 ? to.end() : setTimeout(() => to.end(), delay)))
  from.on('error', () => undefined)
  from.on('close', () => setTimeout(() => to.destroy(), delay))
}

const servers = await Promise.all(
  routes.map(
    (r) =>
      new Promise((resolve, reject) => {
        const oneWay = Math.max(0, r.rttMs / 2)
        const srv = net.createServer((client) => {
          client.setNoDelay(true)
          // The server sees the connection half a round trip late, as a SYN would reach it: the first
          // bytes it sends then reach the controller one round trip after its connect(), as over a WAN.
          const up = new net.Socket()
          up.setNoDelay(true)
          pipe(client, up, oneWay)
          pipe(up, client, oneWay)
          setTimeout(() => client.destroyed || up.connect({ host: r.target, port: r.targetPort ?? 22 }), oneWay)
        })
        srv.on('error', reject)
        // A backlog above the default 511: a thousand connections may arrive at once.
        srv.listen({ host: r.listen ?? '127.0.0.1', port: r.port ?? 0, backlog: 4096 }, () => resolve(srv))
      }),
  ),
)
process.stdout.write(JSON.stringify(servers.map((s) => s.address().port)) + '\n')
