/**
 * OpenSSH 9.2's ssh_config keywords (the table in readconf.c, taken from the installed ssh and checked
 * against it in the tests) and the value checks ssh makes for the ones orch uses. ssh checks values in
 * every block, also those that do not apply to the host, so orch does too.
 */

const LIST =
  'addkeystoagent addressfamily afstokenpassing batchmode bindaddress bindinterface canonicaldomains canonicalizefallbacklocal ' +
  'canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames casignaturealgorithms certificatefile challengeresponseauthentication ' +
  'checkhostip cipher ciphers clearallforwardings compression compressionlevel connectionattempts connecttimeout controlmaster controlpath ' +
  'controlpersist dsaauthentication dynamicforward enableescapecommandline enablesshkeysign escapechar exitonforwardfailure fallbacktorsh ' +
  'fingerprinthash forkafterauthentication forwardagent forwardx11 forwardx11timeout forwardx11trusted gatewayports globalknownhostsfile ' +
  'globalknownhostsfile2 gssapiauthentication gssapiclientidentity gssapidelegatecredentials gssapikexalgorithms gssapikeyexchange ' +
  'gssapirenewalforcesrekey gssapiserveridentity gssapitrustdns hashknownhosts host hostbasedacceptedalgorithms hostbasedauthentication ' +
  'hostbasedkeytypes hostkeyalgorithms hostkeyalias hostname identitiesonly identityagent identityfile identityfile2 ignoreunknown include ' +
  'ipqos kbdinteractiveauthentication kbdinteractivedevices kerberosauthentication kerberostgtpassing kexalgorithms knownhostscommand ' +
  'localcommand localforward loglevel logverbose macs match nohostauthenticationforlocalhost numberofpasswordprompts passwordauthentication ' +
  'permitlocalcommand permitremoteopen pkcs11provider port preferredauthentications protocol protocolkeepalives proxycommand proxyjump ' +
  'proxyusefdpass pubkeyacceptedalgorithms pubkeyacceptedkeytypes pubkeyauthentication rekeylimit remotecommand remoteforward requesttty ' +
  'requiredrsasize revokedhostkeys rhostsauthentication rsaauthentication rhostsrsaauthentication securitykeyprovider sendenv serveralivecountmax ' +
  'serveraliveinterval sessiontype setenv setuptimeout skeyauthentication smartcarddevice stdinnull streamlocalbindmask streamlocalbindunlink ' +
  'stricthostkeychecking syslogfacility tcpkeepalive tisauthentication tunnel tunneldevice updatehostkeys useblacklistedkeys useprivilegedport ' +
  'user userknownhostsfile userknownhostsfile2 useroaming usersh verifyhostkeydns visualhostkey xauthlocation'

export const KEYWORDS: ReadonlySet<string> = new Set(LIST.split(' '))

/** Keywords whose lines add to a list instead of first-wins. */
export const MULTI_VALUE: ReadonlySet<string> = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv', 'setenv'])

/** The rest of the line, unsplit (a shell command). */
export const RAW_COMMAND: ReadonlySet<string> = new Set(['proxycommand', 'localcommand', 'remotecommand', 'knownhostscommand'])

/** Keywords that take more than one argument (ssh checks the others for "extra arguments"). */
const MULTI_ARG = new Set([
  'userknownhostsfile',
  'globalknownhostsfile',
  'sendenv',
  'setenv',
  'canonicaldomains',
  'canonicalizepermittedcnames',
  'localforward',
  'remoteforward',
  'permitremoteopen',
  'ipqos',
  'rekeylimit',
  'logverbose',
  'ignoreunknown',
  // deprecated / unsupported: ssh ignores their arguments
  'afstokenpassing',
  'compressionlevel',
  'dsaauthentication',
  'fallbacktorsh',
  'globalknownhostsfile2',
  'identityfile2',
  'kerberosauthentication',
  'kerberostgtpassing',
  'protocol',
  'rhostsauthentication',
  'rhostsrsaauthentication',
  'rsaauthentication',
  'skeyauthentication',
  'tisauthentication',
  'useblacklistedkeys',
  'useprivilegedport',
  'useroaming',
  'usersh',
  'userknownhostsfile2',
  'cipher',
  'gssapiclientidentity',
  'gssapiserveridentity',
  'gssapirenewalforcesrekey',
  'gssapitrustdns',
  'gssapikeyexchange',
  'gssapikexalgorithms',
])

/** convtime(): 90, 1m30s, 1h (s m h d w, any case); -1 when invalid. */
export function convtime(s: string): number {
  if (s === '') return -1
  let total = 0
  const re = /(\d+)([smhdw]?)/giy
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (!m) return -1
    const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2].toLowerCase() as 's']
    total += Number(m[1]) * mult
    pos = re.lastIndex
    if (m[2] === '' && pos < s.length) return -1
  }
  return total > 2147483647 ? -1 : total
}

const FLAGS = new Set(['identitiesonly', 'hashknownhosts', 'batchmode', 'passwordauthentication', 'pubkeyauthentication', 'kbdinteractiveauthentication', 'tcpkeepalive'])

/** ProxyJump's list: `none`, or `[user@]host[:port]` / ssh://[user@]host[:port] items. */
export function validJump(s: string): boolean {
  if (s.toLowerCase() === 'none') return true
  return s.split(',').every((item) => {
    let h = item.replace(/^ssh:\/\//, '')
    const at = h.lastIndexOf('@')
    if (at >= 0) {
      if (at === 0) return false
      h = h.slice(at + 1)
    }
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(h)
    if (!m) return false
    return m[3] === undefined || (Number(m[3]) >= 1 && Number(m[3]) <= 65535)
  })
}

/** Checks a value as ssh does (throws `where: message`); returns what to store. */
export function checkValue(keyword: string, args: string[], _raw: string, where: string): string[] | null {
  const bad = (msg: string): never => {
    throw new Error(`${where}: ${msg}`)
  }
  if (!RAW_COMMAND.has(keyword) && !MULTI_ARG.has(keyword) && args.length > 1) bad(`keyword ${keyword} extra arguments at end of line`)
  const v = args[0] ?? ''
  if (v === '' && !RAW_COMMAND.has(keyword)) bad(`keyword ${keyword} missing argument`)
  switch (keyword) {
    case 'port': {
      const n = /^\d+$/.test(v) ? Number(v) : v === 'ssh' ? 22 : -1
      if (!(n >= 1 && n <= 65535)) bad(`Bad port '${v}'.`)
      return [String(n)]
    }
    case 'connecttimeout':
    case 'serveraliveinterval': {
      if (v.toLowerCase() === 'none') return [keyword === 'connecttimeout' ? 'none' : '0']
      const t = convtime(v)
      if (t < 0) bad('invalid time value.')
      return [String(t)]
    }
    case 'serveralivecountmax':
    case 'connectionattempts':
      if (!/^-?\d+$/.test(v)) bad('integer value invalid.')
      if (Number(v) < 0) bad('integer value too small.')
      return [String(Number(v))]
    case 'stricthostkeychecking': {
      const m: Record<string, string> = { yes: 'true', true: 'true', no: 'false', false: 'false', off: 'false', ask: 'ask', 'accept-new': 'accept-new' }
      const r = m[v.toLowerCase()]
      if (!r) bad(`unsupported option "${v}".`)
      return [r]
    }
    case 'proxyjump':
      if (!validJump(v)) bad(`Invalid ProxyJump "${v}"`)
      return [v]
    case 'userknownhostsfile':
    case 'globalknownhostsfile':
      if (args.length > 16) bad(`too many known hosts files.`)
      return args
    default:
      if (FLAGS.has(keyword)) {
        const f = v.toLowerCase()
        if (f === 'yes' || f === 'true') return ['yes']
        if (f === 'no' || f === 'false') return ['no']
        bad(`unsupported option "${v}".`)
      }
      return args
  }
}
