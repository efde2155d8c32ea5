/**
 * PostgreSQL's own rules for the address, method and options of a pg_hba line (hba.c), so a rule
 * it would refuse at start or reload is refused here first, with the reason. Pure.
 */
import net from 'node:net';

/** Returns why the rule is refused, or undefined. */
type Check = string | undefined;

/** Options every method accepts on hostssl lines. */
const TLS_OPTIONS = ['clientcert', 'clientname'];

/** The options each method takes (PostgreSQL 13 to 17), beyond TLS_OPTIONS. */
const METHOD_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  trust: [],
  reject: [],
  'scram-sha-256': [],
  md5: [],
  password: [],
  bsd: [],
  peer: ['map'],
  ident: ['map'],
  cert: ['map'],
  gss: ['map', 'include_realm', 'krb_realm', 'compat_realm', 'upn_username'],
  sspi: ['map', 'include_realm', 'krb_realm', 'compat_realm', 'upn_username'],
  pam: ['pamservice', 'pam_use_hostname'],
  ldap: [
    'ldapserver',
    'ldapport',
    'ldapscheme',
    'ldaptls',
    'ldapprefix',
    'ldapsuffix',
    'ldapbasedn',
    'ldapbinddn',
    'ldapbindpasswd',
    'ldapsearchattribute',
    'ldapsearchfilter',
    'ldapurl',
  ],
  radius: ['radiusservers', 'radiussecrets', 'radiusidentifiers', 'radiusports'],
};

export const METHODS: ReadonlySet<string> = new Set(Object.keys(METHOD_OPTIONS));

/** Which connection types a method works on; the others are refused by PostgreSQL. */
export function methodFitsType(method: string, type: string): Check {
  if (method === 'cert' && type !== 'hostssl')
    return 'method cert needs a hostssl rule (it reads the client certificate)';
  if (method === 'peer' && type !== 'local') return 'method peer works on local (unix socket) rules only';
  if (method === 'gss' && type === 'local') return 'method gss does not work on local rules';
  if (method === 'sspi') return 'method sspi exists on Windows only';
  if (method === 'bsd') return 'method bsd exists on OpenBSD only';
  // A TCP rule that asks for nothing: anyone who reaches the port may log in as anyone, superusers included.
  if (method === 'trust' && type !== 'local')
    return 'trust on a TCP rule lets anyone who reaches the port in without a password; use scram-sha-256 or cert';
  return undefined;
}

/** `name=value` options: known to the method, TLS options on hostssl only, values PostgreSQL accepts. */
export function checkOptions(method: string, type: string, options: readonly string[]): Check {
  const allowed = [...(METHOD_OPTIONS[method] ?? []), ...TLS_OPTIONS];
  for (const option of options) {
    const match = /^([A-Za-z_]+)=(.*)$/s.exec(option);
    if (!match) return `"${option}" is not an option (name=value)`;
    const [, name, value] = match as unknown as [string, string, string];
    if (!allowed.includes(name)) {
      const known =
        METHOD_OPTIONS[method]!.length > 0 ? ` (${method} takes ${METHOD_OPTIONS[method]!.join(', ')})` : '';
      return `option "${name}" is not valid for method ${method}${known}`;
    }
    if (TLS_OPTIONS.includes(name) && type !== 'hostssl') return `option ${name} needs a hostssl rule`;
    if (name === 'clientcert' && !['verify-ca', 'verify-full'].includes(value))
      return `clientcert must be verify-ca or verify-full, not "${value}"`;
    if (name === 'clientcert' && method === 'cert' && value !== 'verify-full')
      return 'method cert always checks the full certificate: clientcert=verify-full only';
    if (name === 'clientname' && !['CN', 'DN'].includes(value)) return `clientname must be CN or DN, not "${value}"`;
  }
  return undefined;
}

/**
 * The address of a host rule: `all`, `samehost`, `samenet`, a host name, an address with a CIDR
 * prefix, or an address followed by a mask field. Returns how many fields it takes, or why it is refused.
 */
export function checkAddress(address: string, next: string | undefined): { fields: 1 | 2 } | { refused: string } {
  if (['all', 'samehost', 'samenet'].includes(address)) return { fields: 1 };
  const slash = address.indexOf('/');
  if (slash !== -1) {
    const ip = address.slice(0, slash);
    const prefix = address.slice(slash + 1);
    const family = net.isIP(ip);
    if (family === 0) return { refused: `"${address}": "${ip}" is not an IP address` };
    const bits = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits)
      return { refused: `"${address}": the prefix length must be 0 to ${bits}` };
    return { fields: 1 };
  }
  const family = net.isIP(address);
  if (family !== 0) {
    if (next === undefined || net.isIP(next) !== family)
      return { refused: `"${address}" needs a CIDR prefix (${address}/N) or a mask field after it` };
    if (!isContiguousMask(next, family)) return { refused: `"${next}" is not a valid netmask` };
    return { fields: 2 };
  }
  // Anything else PostgreSQL takes as a host name, resolved at every connection: it must look like one.
  if (/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(address))
    return { fields: 1 };
  return { refused: `"${address}" is neither an IP address, a CIDR range nor a host name` };
}

function isContiguousMask(mask: string, family: number): boolean {
  const groups = family === 4 ? mask.split('.').map(Number) : expandIpv6(mask);
  const width = family === 4 ? 8 : 16;
  const bits = groups.map((group) => group.toString(2).padStart(width, '0')).join('');
  return /^1*0*$/.test(bits);
}

function expandIpv6(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
