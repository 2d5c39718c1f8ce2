/** Host key checks against known_hosts for one hop, and how hops are named in messages. */
import { appendKnownHost, checkHostKey, fingerprint, keyTypeLabel, keyTypeOf, knownHostsName } from './known-hosts.ts'
import type { ResolvedHop } from './options.ts'
import { HostKeyError } from './types.ts'

export function hopLabel(h: ResolvedHop): string {
  return `${h.user}@${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`
}

export function hopKey(h: ResolvedHop): string {
  return `${h.user}@${h.host}:${h.port}`
}

/** Keys accepted (accept-new) by this process, so that parallel connects don't append twice. */
const appended = new Set<string>()

/** Verify a host key against known_hosts; returns the error to refuse with, or null. */
export function verifyHostKey(hostName: string, hop: ResolvedHop, key: Buffer, log?: (m: string) => void): HostKeyError | null {
  if (hop.hostKeyChecking === 'off') return null
  const name = hop.hostKeyAlias ?? knownHostsName(hop.host, hop.port)
  const files = [...hop.knownHostsFiles, ...hop.globalKnownHostsFiles]
  const type = keyTypeOf(key)
  const label = keyTypeLabel(type)
  const fp = fingerprint(key)
  const v = checkHostKey(files, [name], key)
  const userFile = hop.knownHostsFiles[0]
  switch (v.status) {
    case 'ok':
      return null
    case 'revoked':
      return new HostKeyError(
        hostName,
        `${hostName}: the ${label} host key of ${name} (${fp}) is marked as revoked in ${v.file}:${v.line}. ` +
          `This could mean that a stolen key is being used to impersonate this host. Refusing to connect.`,
      )
    case 'changed':
    case 'other-type':
      return new HostKeyError(
        hostName,
        [
          `${hostName}:`,
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
          'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
          'It is also possible that a host key has just been changed.',
          `The fingerprint for the ${label} key sent by the remote host ${name} is ${fp}.`,
          v.status === 'changed'
            ? `Offending ${keyTypeLabel(v.knownType)} key in ${v.file}:${v.line}`
            : `${name} is known with a ${keyTypeLabel(v.knownType)} key in ${v.file}:${v.line}, but presented a ${label} key.`,
          `If the change is expected, remove the old entry with: ssh-keygen -f "${v.file}" -R "${name}"`,
          `Host key for ${name} has changed and orch refuses to connect (host_key_checking=${hop.hostKeyChecking}).`,
        ].join('\n'),
      )
    case 'unknown': {
      if (hop.hostKeyChecking === 'accept-new' && userFile) {
        const k = `${userFile}\0${name}\0${key.toString('base64')}`
        if (!appended.has(k)) {
          appended.add(k)
          try {
            appendKnownHost(userFile, name, key, hop.hashKnownHosts)
          } catch (e) {
            return new HostKeyError(hostName, `${hostName}: cannot add the host key of ${name} to ${userFile}: ${(e as Error).message}`)
          }
          log?.(`Permanently added '${name}' (${label}) to the list of known hosts (${userFile}).`)
        }
        return null
      }
      const scan = `ssh-keyscan ${hop.hashKnownHosts ? '-H ' : ''}${hop.port !== 22 ? `-p ${hop.port} ` : ''}${hop.host} >> ${userFile ?? '~/.ssh/known_hosts'}`
      return new HostKeyError(
        hostName,
        `${hostName}: host key verification failed: no key for ${name} in ${files.join(', ')} ` +
          `(the server's ${label} key fingerprint is ${fp}). Verify the fingerprint, then add the key with: ${scan} ` +
          `(or use host_key_checking=accept-new to trust it on first use).`,
      )
    }
  }
}
