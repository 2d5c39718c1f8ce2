#!/usr/bin/env node
// The floor (bench part d): the same work as the small workload with nothing but ssh2 — one
// connection and one persistent /bin/sh per host, one framed command per task, no engine, no journal,
// no transaction, no TypeScript loader. Plain JS so its start-up is node's alone.
//
//   node bench/floor.mjs SPEC.json      SPEC: { keyPath, knownHostsPath, hosts: [{ name, address, port?, keyPath?, commands: [sh...] }] }
// (a port other than 22, e.g. a delaying relay's: its key is looked up as [address]:port, as OpenSSH does)
// Prints one JSON line: { ms, hosts, commands, changed, ok, failed }.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import ssh2 from 'ssh2'

const t0 = performance.now()
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const key = readFileSync(spec.keyPath)
const known = new Map()
for (const line of readFileSync(spec.knownHostsPath, 'utf8').split('\n')) {
  const [host, , b64] = line.trim().split(/\s+/)
  if (host && b64) known.set(host, Buffer.from(b64, 'base64'))
}
const keyCache = new Map()
const keys = (p) => keyCache.get(p) ?? keyCache.set(p, readFileSync(p)).get(p)
const q = (s) => "'" + s.replace(/'/g, "'\\''") + "'"

function connect(h) {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client()
    c.once('ready', () => resolve(c))
    c.once('error', reject)
    c.connect({
      host: h.address,
      port: h.port ?? 22,
      username: 'root',
      privateKey: h.keyPath ? keys(h.keyPath) : key,
      readyTimeout: 20000,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (k) => !!known.get(h.port && h.port !== 22 ? `[${h.address}]:${h.port}` : h.address)?.equals(k),
    })
  })
}

async function host(h) {
  const c = await connect(h)
  const ch = await new Promise((res, rej) => c.exec('exec /bin/sh', (e, s) => (e ? rej(e) : res(s))))
  let buf = ''
  let waiting = null
  ch.on('data', (d) => {
    buf += d.toString('latin1')
    if (waiting && buf.includes(waiting.needle)) {
      const i = buf.indexOf(waiting.needle)
      const nl = buf.indexOf('\n', i)
      if (nl < 0) return
      const out = buf.slice(0, i)
      const code = Number(buf.slice(i + waiting.needle.length, nl))
      buf = buf.slice(nl + 1)
      const w = waiting
      waiting = null
      w.resolve({ code, out })
    }
  })
  ch.stderr.on('data', () => {})
  const run = (script) =>
    new Promise((resolve) => {
      const m = `__floor_${randomBytes(16).toString('hex')}:`
      waiting = { needle: m, resolve }
      ch.write(`( eval ${q(script)} ) </dev/null\nprintf '%s%d\\n' '${m}' "$?"\n`)
    })
  const tally = { changed: 0, ok: 0, failed: 0 }
  for (const cmd of h.commands) {
    const r = await run(cmd)
    if (r.code !== 0) tally.failed++
    else if (r.out.includes('changed')) tally.changed++
    else tally.ok++
  }
  ch.end('exit\n')
  c.end()
  return tally
}

const results = await Promise.allSettled(spec.hosts.map(host))
const sum = { changed: 0, ok: 0, failed: 0 }
for (const r of results) {
  if (r.status === 'fulfilled') for (const k of Object.keys(sum)) sum[k] += r.value[k]
  else sum.failed += 1
}
const out = { ms: Math.round(performance.now() - t0), hosts: spec.hosts.length, commands: spec.hosts.reduce((n, h) => n + h.commands.length, 0), ...sum }
process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(sum.failed ? 1 : 0))
