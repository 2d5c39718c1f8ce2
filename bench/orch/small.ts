/**
 * Bench workload (a) and (c): 10 small idempotent tasks per host (files, lines, sysctl, commands).
 * The first run changes every task on a fresh host; the second run changes nothing.
 * bench/ansible/small.yml is the same workload for ansible-playbook; bench/floor.mjs does the same
 * work over a bare persistent shell per host (see bench/lib/workload.ts for the floor's commands).
 */
import { command, directory, file, lineinfile, playbook, sh, sysctl } from 'orch'

const DIR = '/etc/orchbench'

export default playbook({
  name: 'bench: 10 small idempotent tasks',
  hosts: 'all',
  tasks: ({ host }) => [
    directory({ path: DIR, mode: '0755' }),
    file({ path: `${DIR}/app.conf`, content: `# managed by the bench\nname = ${host.name}\nworkers = 4\n`, mode: '0644' }),
    file({ path: `${DIR}/secret.conf`, content: 'token = not-a-secret\n', mode: '0600' }),
    lineinfile({ path: `${DIR}/limits.conf`, line: 'nofile = 65536', create: true }),
    lineinfile({ path: `${DIR}/limits.conf`, regexp: '^nproc\\s*=', line: 'nproc = 4096' }),
    sysctl('net.ipv4.ip_forward', 1, { persist: false }),
    sysctl('net.ipv4.conf.all.log_martians', 1, { persist: false }),
    command({ argv: ['touch', `${DIR}/stamp`], creates: `${DIR}/stamp`, undo: sh`rm -f ${`${DIR}/stamp`}` }),
    command({ argv: ['cp', '/etc/hostname', `${DIR}/hostname`], creates: `${DIR}/hostname`, undo: sh`rm -f ${`${DIR}/hostname`}` }),
    file({ path: `${DIR}/motd`, content: 'orch bench host\n' }),
  ],
})
