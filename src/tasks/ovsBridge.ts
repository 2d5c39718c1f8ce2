/**
 * ovsBridge: an Open vSwitch bridge with a chosen datapath.
 *
 * 'auto' picks the kernel datapath ('system') when the host has it (the openvswitch module is loaded or
 * `ovs-dpctl show` works) and the userspace one ('netdev') otherwise. An existing bridge keeps its
 * datapath under 'auto', unless it is 'system' on a host without the kernel datapath (a bridge that
 * cannot forward): then it moves to 'netdev'. One round trip to read; undo deletes a bridge it created,
 * or sets the old datapath back.
 */
import { argSpec, parseArgs } from '../argspec.ts'
import { TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { OWNER_KEY, ovsStr, readOvs, vsctl, type OvsDb } from './ovsdb.ts'

export type Datapath = 'system' | 'netdev'

export interface OvsBridgeArgs {
  /** Bridge name (also its internal interface's name: 1-15 characters). */
  name: string
  /** Default 'auto'. */
  datapath?: Datapath | 'auto'
}

interface BridgeState {
  db: OvsDb
  /** Whether the kernel datapath is usable on this host. */
  kernelDatapath: boolean
}

/** Prints 'system' when the kernel datapath is usable, else 'netdev'. */
export const DETECT_DATAPATH_SCRIPT =
  'if [ -d /sys/module/openvswitch ] || ovs-dpctl show >/dev/null 2>&1; then echo system; else echo netdev; fi'

/** '' (the OVSDB default) is the kernel datapath. */
export const normDatapath = (t: string): string => (t === '' ? 'system' : t)

export const OVS_BRIDGE_SPEC = argSpec('ovsBridge', {
  name: { type: 'ifname', required: true, desc: "bridge name (also its internal interface's name)" },
  datapath: { type: 'str', choices: ['system', 'netdev', 'auto'], default: 'auto' },
})

export function ovsBridge(args: OvsBridgeArgs): Task<BridgeState> {
  const a = args ?? ({} as OvsBridgeArgs)
  const want = a.datapath ?? 'auto'

  /** The datapath this host should have for the bridge. */
  const target = (s: BridgeState): string => {
    if (want !== 'auto') return want
    const b = s.db.bridges.get(a.name)
    if (!b) return s.kernelDatapath ? 'system' : 'netdev'
    const cur = normDatapath(b.datapathType)
    return cur === 'system' && !s.kernelDatapath ? 'netdev' : cur
  }

  const resource: Resource<BridgeState> = {
    module: 'ovs_bridge',
    name: `ovs bridge ${a.name}${want !== 'auto' ? ` (${want})` : ''}`,
    validate() {
      parseArgs(OVS_BRIDGE_SPEC, a)
    },
    async read(ctx) {
      const { db, sections } = await readOvs(ctx, [DETECT_DATAPATH_SCRIPT])
      const b = db.bridges.get(a.name)
      if (!b && db.ports.has(a.name)) throw new TaskFailed(`${a.name} is already a port of OVS bridge ${db.ports.get(a.name)!.bridge}`)
      return { db, kernelDatapath: sections[0].trim() === 'system' }
    },
    diff(s) {
      const b = s.db.bridges.get(a.name)
      const dp = target(s)
      if (!b) return [{ what: `create OVS bridge ${a.name}`, after: `datapath ${dp}` }]
      if (normDatapath(b.datapathType) !== dp) return [{ what: `${a.name} datapath_type`, before: normDatapath(b.datapathType), after: dp }]
      return []
    },
    undo(s): Undo {
      const b = s.db.bridges.get(a.name)
      if (!b) return { description: `delete OVS bridge ${a.name}`, script: vsctl([['--if-exists', 'del-br', a.name]]) }
      return {
        description: `set ${a.name} datapath_type back to ${normDatapath(b.datapathType)}`,
        script: vsctl([['set', 'Bridge', a.name, `datapath_type=${ovsStr(b.datapathType)}`]]),
      }
    },
    async apply(ctx, s) {
      const b = s.db.bridges.get(a.name)
      const dp = target(s)
      const cmd = b
        ? vsctl([['set', 'Bridge', a.name, `datapath_type=${dp}`]])
        : vsctl([['add-br', a.name], ['set', 'Bridge', a.name, `datapath_type=${dp}`, `external_ids:${OWNER_KEY}=1`]])
      // ovs-vsctl exits 0 even when ovs-vswitchd could not create the datapath: it only says so.
      const r = await ctx.run(`${cmd} 2>&1`)
      mustSucceed(r, `${b ? 'changing' : 'creating'} OVS bridge ${a.name}`)
      if (/Error detected while setting up/.test(r.stdout)) {
        const cleanup = b ? vsctl([['set', 'Bridge', a.name, `datapath_type=${ovsStr(b.datapathType)}`]]) : vsctl([['--if-exists', 'del-br', a.name]])
        await ctx.run(cleanup)
        throw new TaskFailed(
          `ovs-vswitchd could not set up bridge ${a.name} with datapath ${dp}` +
            (dp === 'system' ? ' (no Open vSwitch kernel datapath on this host? use datapath: "netdev" or "auto")' : '') +
            `: ${r.stdout.trim().split('\n')[0]}`,
          { rc: r.code, stdout: r.stdout },
        )
      }
      return { data: { datapath: dp } }
    },
  }
  return task(resource)
}

