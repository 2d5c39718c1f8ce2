/**
 * The bench's small workload (parts a, c, d) outside the playbooks: the floor's commands and the reset
 * that puts a host back to "fresh" between runs. Keep in step with bench/orch/small.ts and
 * bench/ansible/small.yml: the same 10 changes.
 */
import { sh } from '../../src/net/shell.ts'

export const BENCH_DIR = '/etc/orchbench'

/** A file with exactly this content and mode: prints "changed" when it wrote, "ok" when it was right. */
function fileCmd(path: string, content: string, mode: string): string {
  const data = content
  return (
    sh`if printf '%s' ${data} | cmp -s - ${path} && [ "$(stat -c %a ${path})" = ${String(Number.parseInt(mode, 8).toString(8))} ]; then echo ok; ` +
    sh`else printf '%s' ${data} > ${path + '.tmp'} && chmod ${mode} ${path + '.tmp'} && mv -f ${path + '.tmp'} ${path} && echo changed; fi`
  )
}

/**
 * The floor (part d): per host, one command per task, each an idempotent check-and-set that does the
 * task's work in a single round trip, with no engine, no journal, no transaction.
 */
export function floorCommands(hostName: string): string[] {
  const d = BENCH_DIR
  const limits = `${d}/limits.conf`
  return [
    sh`if [ -d ${d} ]; then echo ok; else mkdir -m 0755 ${d} && echo changed; fi`,
    fileCmd(`${d}/app.conf`, `# managed by the bench\nname = ${hostName}\nworkers = 4\n`, '0644'),
    fileCmd(`${d}/secret.conf`, 'token = not-a-secret\n', '0600'),
    sh`if grep -qxF ${'nofile = 65536'} ${limits} 2>/dev/null; then echo ok; else echo ${'nofile = 65536'} >> ${limits} && echo changed; fi`,
    sh`if grep -qxF ${'nproc = 4096'} ${limits}; then echo ok; else sed -i ${'/^nproc\\s*=/d'} ${limits} && echo ${'nproc = 4096'} >> ${limits} && echo changed; fi`,
    sh`if [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]; then echo ok; else echo 1 > /proc/sys/net/ipv4/ip_forward && echo changed; fi`,
    sh`if [ "$(cat /proc/sys/net/ipv4/conf/all/log_martians)" = 1 ]; then echo ok; else echo 1 > /proc/sys/net/ipv4/conf/all/log_martians && echo changed; fi`,
    sh`if [ -e ${d + '/stamp'} ]; then echo ok; else touch ${d + '/stamp'} && echo changed; fi`,
    sh`if [ -e ${d + '/hostname'} ]; then echo ok; else cp /etc/hostname ${d + '/hostname'} && echo changed; fi`,
    fileCmd(`${d}/motd`, 'orch bench host\n', '0644'),
  ]
}

/**
 * Back to a fresh host, run through the lab's nsenter (not SSH, not timed): the workload's files and
 * sysctls as a new namespace has them, and no orch state (journals, lock), so every "first run" of
 * every tool starts from the same host.
 */
export const RESET_SCRIPT = sh`rm -rf ${BENCH_DIR} /var/lib/orch
echo 0 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/ipv4/conf/all/accept_redirects
echo 0 > /proc/sys/net/ipv4/conf/all/log_martians`
