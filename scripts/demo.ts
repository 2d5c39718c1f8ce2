/**
 * npm run demo [-- STRATEGY ...] [-- --keep]
 *
 * Brings up a 3-host lab (network namespaces with their own sshd, dockerd and Open vSwitch), runs
 * playbooks/cross-host.ts with each strategy in turn through the real CLI (what you would type), shows
 * the connectivity matrix and the recap of each run, rolls back between strategies (`orch rollback`:
 * the next one starts from clean hosts), and tears the lab down — also when a run fails or on Ctrl-C.
 * bin/demo.js installs what is missing first (npm packages, scripts/install-deps.sh).
 */
import { spawn } from 'node:child_process'
import { join, relative } from 'node:path'
import { down, labUnavailableReason, readState, repoRoot, up, type Lab } from '../src/lab/index.ts'

const STRATEGIES = {
  routes: 'docker0 on its own subnet per host, static routes between hosts, NAT only out of the cluster',
  bridge: 'br0 takes over eth0 (commit-confirmed); containers get addresses on the LAN',
  'ovs-gre': 'an Open vSwitch bridge per host, a full mesh of GRE tunnels, one overlay subnet',
  vxlan: 'kernel VXLAN bridged into a docker network with the same subnet on every host',
} as const
type Strategy = keyof typeof STRATEGIES

const PREFIX = 'demo'
const color = process.stdout.isTTY && !process.env.NO_COLOR
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s)
const green = (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s)
const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s)
const say = (s = '') => process.stdout.write(s + '\n')
const step = (s: string) => say(`\n${bold(`==> ${s}`)}`)

function usage(): never {
  say('usage: npm run demo [-- STRATEGY ...] [-- --keep]')
  say(`  strategies: ${Object.keys(STRATEGIES).join(', ')} (default: all, in this order)`)
  say('  --keep      leave the lab up at the end (remove it with: npm run lab:down -- --prefix demo)')
  process.exit(2)
}

const args = process.argv.slice(2)
if (args.includes('-h') || args.includes('--help')) usage()
const keep = args.includes('--keep')
const picked = args.filter((a) => !a.startsWith('--'))
for (const a of picked)
  if (!(a in STRATEGIES)) {
    say(red(`demo: unknown strategy ${JSON.stringify(a)}`))
    usage()
  }
const strategies = (picked.length ? picked : Object.keys(STRATEGIES)) as Strategy[]

let interrupted = 0
let child: ReturnType<typeof spawn> | undefined
process.on('SIGINT', () => {
  interrupted++
  // The running orch gets the same Ctrl-C from the terminal and rolls its hosts back; the lab goes after.
  say(red(interrupted === 1 ? '\ndemo: interrupted: letting the running command finish, then removing the lab' : '\ndemo: interrupted again: removing the lab now'))
  if (interrupted > 1) child?.kill('SIGKILL')
})

/** Runs `orch ARGS` as a user would (node bin/orch.js), output straight to the terminal. */
function orch(argv: string[]): Promise<number> {
  say(bold(`$ orch ${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`))
  return new Promise((resolve) => {
    child = spawn(process.execPath, [join(repoRoot, 'bin/orch.js'), ...argv], { cwd: repoRoot, stdio: 'inherit' })
    child.on('exit', (code, signal) => {
      child = undefined
      resolve(code ?? (signal ? 130 : 1))
    })
  })
}

async function main(): Promise<number> {
  const why = await labUnavailableReason()
  if (why) {
    say(red(`demo: the lab cannot run here: ${why}`))
    return 1
  }
  if (readState(PREFIX)) {
    step(`a lab named "${PREFIX}" is left from an earlier demo: removing it`)
    await down(PREFIX)
  }

  say(bold(`orch demo: cross-host container networking with ${strategies.length === 1 ? 'the strategy' : 'the strategies'} ${strategies.join(', ')}`))
  say('on a throw-away lab of 3 hosts; each strategy is applied, checked (ping + 1 MiB TCP between the')
  say('containers of every pair of hosts), then rolled back with `orch rollback` before the next one.')
  step('bringing up a 3-host lab: network namespaces, each with its own sshd, dockerd and Open vSwitch')
  const t0 = Date.now()
  let lab: Lab | undefined
  const results: Array<{ strategy: Strategy; ok: boolean; seconds: number; rolledBack: boolean }> = []
  try {
    lab = await up({ hosts: 3, docker: true, ovs: true, prefix: PREFIX })
    say(`lab "${PREFIX}" up in ${((Date.now() - t0) / 1000).toFixed(1)} s: LAN ${lab.lanCidr}, gateway ${lab.gateway}`)
    for (const h of lab.hosts) say(`  ${h.name}  ${h.address}`)
    say(`inventory: ${lab.inventoryPath}`)
    // Relative to the repository: the commands shown can be pasted as they are (with --keep).
    const inv = relative(repoRoot, lab.inventoryPath)

    for (const [i, s] of strategies.entries()) {
      if (interrupted) break
      step(`strategy ${i + 1}/${strategies.length}: ${s} — ${STRATEGIES[s]}`)
      const vars = ['-e', `orch_strategy=${s}`]
      // bridge: container addresses from a free range of the lab's LAN (.97, .98, .99).
      if (s === 'bridge') vars.push('-e', `lan_pool=${lab.lanCidr.replace(/\.0\/24$/, '.96/28')}`)
      const started = Date.now()
      const code = await orch(['run', 'playbooks/cross-host.ts', '-i', inv, ...vars])
      const seconds = (Date.now() - started) / 1000
      const ok = code === 0
      say(ok ? green(`${s}: containers on every host reach every other host's (ping + 1 MiB TCP), committed`) : red(`${s}: FAILED (exit ${code}); orch rolled the hosts back`))
      let rolledBack = !ok
      if (ok && !interrupted) {
        say(`\nswitching strategy: ${i + 1 < strategies.length ? 'undo this one so the next starts from clean hosts' : 'undo it, leaving the hosts as they were'}`)
        const rb = await orch(['rollback', '-i', inv])
        rolledBack = rb === 0
        if (!rolledBack) say(red(`rollback FAILED (exit ${rb})`))
      }
      results.push({ strategy: s, ok, seconds, rolledBack })
    }
  } finally {
    if (keep && lab && !interrupted) {
      step(`keeping the lab: orch status -i ${lab.inventoryPath}; remove it with: npm run lab:down -- --prefix ${PREFIX}`)
    } else {
      step('tearing the lab down')
      await down(PREFIX).catch((e: Error) => say(red(`lab teardown failed: ${e.message} (npm run lab:down -- --prefix ${PREFIX})`)))
      say('lab removed')
    }
  }

  step('summary')
  for (const r of results)
    say(`  ${r.strategy.padEnd(8)} ${r.ok ? green('connected') : red('FAILED   ')}  ${r.seconds.toFixed(1).padStart(5)} s   ${r.rolledBack ? 'rolled back' : red('NOT rolled back')}`)
  if (interrupted) {
    say(red('  interrupted'))
    return 130
  }
  return results.length === strategies.length && results.every((r) => r.ok && r.rolledBack) ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  async (e: Error) => {
    say(red(`demo: ${e.stack ?? e.message}`))
    await down(PREFIX).catch(() => undefined)
    process.exit(1)
  },
)
