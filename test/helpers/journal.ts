/**
 * Shared by the safety suites (netns lab and booted hosts): two journalled changes on a host, each applied
 * after its undo was recorded, as the engine does.
 */
import { RemoteJournal } from '../../src/engine/journal.ts'
import type { Connection } from '../../src/transport/types.ts'

/** `ok` runs a script and fails the test unless it exits 0. */
export async function journalledChanges(conn: Connection, runId: string, ok: (conn: Connection, script: string) => Promise<unknown>): Promise<void> {
  const j = new RemoteJournal(runId)
  await j.record(conn.hostName, conn, { description: 'del addr', script: 'ip addr del 10.77.0.1/32 dev lo' }, { module: 'addr', task: 'a' })
  await ok(conn, 'ip addr add 10.77.0.1/32 dev lo')
  await j.record(conn.hostName, conn, { description: 'del route', script: 'ip route del blackhole 10.78.0.0/24' }, { module: 'route', task: 'r' })
  await ok(conn, 'ip route add blackhole 10.78.0.0/24')
}
