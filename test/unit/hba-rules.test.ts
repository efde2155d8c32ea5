import { describe, expect, it } from 'vitest';
import { parseHbaRules, validateHbaRule } from '../../src/config/hba-rules.js';
import { UsageError } from '../../src/errors.js';

describe('validateHbaRule accepts ordinary rules', () => {
  it.each([
    'hostssl all alice all cert',
    'hostssl app alice,bob 10.0.0.0/8 scram-sha-256',
    'hostssl app alice, bob 10.0.0.0/8 scram-sha-256',
    'host all all 10.0.0.0 255.0.0.0 scram-sha-256',
    'hostnossl app app_user 192.168.0.0/16 md5',
    'host all all ::1/128 reject',
    'hostssl replication streaming_replica 10.0.0.0/8 cert',
    'hostssl replication streaming_replica all cert clientcert=verify-full',
    'host all streaming_replica all reject',
    'hostssl all "Mixed Case" all scram-sha-256',
    'hostssl all all all ldap ldapserver=ldap.example.com ldapprefix="cn=" ldapsuffix=", dc=example"',
    'local all alice peer',
    'local all all trust',
    'local all all ident map=local',
    'host all all samenet scram-sha-256',
    'host all all db.example.com md5',
    'host all all .example.com md5',
    'host all all fe80::/10 md5',
    'host all all 2001:db8:: ffff:ffff:: md5',
    'hostssl all all all md5 clientcert=verify-ca',
    'hostssl all all all cert map=users clientname=DN',
    'hostssl all all all pam pamservice=postgresql',
    'hostssl replication backup all scram-sha-256   # the backup tool',
  ])('%s', (rule) => {
    expect(() => validateHbaRule(rule)).not.toThrow();
  });
});

describe('validateHbaRule refuses hostile or broken rules, naming them and why', () => {
  it.each([
    ['hostssl all alice all cert\nhost all all all trust', /newline/],
    ['hostssl all alice all cert\rhost all all all trust', /newline/],
    ['hostssl all alice all cert \\', /trailing backslash/],
    ['include /etc/passwd', /pulls in other files/],
    ['include_dir conf.d', /pulls in other files/],
    ['include_if_exists other.conf', /pulls in other files/],
    ['hostssl all @users.txt all scram-sha-256', /"@users.txt" reads names from another file/],
    ['hostssl @dbs alice all scram-sha-256', /reads names from another file/],
    ['hostx all alice all md5', /unknown connection type "hostx"/],
    ['hostssl all alice all magic', /unknown authentication method "magic"/],
    ['hostssl all alice all', /too few fields/],
    ['hostssl all alice all md5 notanoption', /not an option/],
    ['hostssl all "alice all md5', /unterminated double quote/],
    ['host all all all trust', /trust on a TCP rule lets anyone/],
    ['hostssl all all 0.0.0.0/0 trust', /trust on a TCP rule/],
    ['hostssl all +admins all trust', /trust on a TCP rule/],
    ['hostnossl all postgres all trust', /trust on a TCP rule/],
    ['host all streaming_replica all md5', /streaming_replica may only connect with a certificate over hostssl/],
    ['host all all 999.0.0.0/99 md5', /address "999.0.0.0\/99": "999.0.0.0" is not an IP address/],
    ['host all all 10.0.0.0/33 md5', /the prefix length must be 0 to 32/],
    ['host all all ::1/129 md5', /the prefix length must be 0 to 128/],
    ['host all all 10.0.0.1 md5', /needs a CIDR prefix/],
    ['host all all 10.0.0.0 255.0.255.0 md5', /"255.0.255.0" is not a valid netmask/],
    ['host all all bad_host! md5', /neither an IP address/],
    ['hostssl all all all md5 bogus_option=1', /option "bogus_option" is not valid for method md5/],
    [
      'hostssl all all all ldap ldapserver=x map=y',
      /option "map" is not valid for method ldap \(ldap takes ldapserver/,
    ],
    ['host all all 0.0.0.0/0 cert', /method cert needs a hostssl rule/],
    ['host all all all peer', /method peer works on local/],
    ['local all all gss', /gss does not work on local/],
    ['host all all all md5 clientcert=verify-full', /option clientcert needs a hostssl rule/],
    ['hostssl all all all cert clientcert=verify-ca', /clientcert=verify-full only/],
    ['hostssl all all all md5 clientcert=yes', /clientcert must be verify-ca or verify-full/],
    ['host replication streaming_replica all cert', /method cert needs a hostssl rule/],
    ['hostssl replication streaming_replica all scram-sha-256', /streaming_replica may only connect/],
    ['hostnossl postgres alice,streaming_replica all md5', /streaming_replica may only connect/],
    ['hostssl all "streaming_replica" all password', /streaming_replica may only connect/],
    ['hostssl all /^streaming all md5', /streaming_replica may only connect/],
  ])('%j', (rule, why) => {
    expect(() => validateHbaRule(rule)).toThrow(UsageError);
    expect(() => validateHbaRule(rule)).toThrow(why);
    expect(() => validateHbaRule(rule)).toThrow(/^pg_hba rule ".*" refused: /s);
  });
});

describe('parseHbaRules', () => {
  it('skips blank lines and comments and keeps the rules in order', () => {
    const text = '# users\n\nhostssl all alice all cert\r\n  hostssl app bob 10.0.0.0/8 scram-sha-256\n';
    expect(parseHbaRules(text, 'hba.conf')).toEqual([
      'hostssl all alice all cert',
      'hostssl app bob 10.0.0.0/8 scram-sha-256',
    ]);
  });

  it('names the file and line of the first refused rule', () => {
    expect(() => parseHbaRules('hostssl all alice all cert\ninclude x.conf\n', '/etc/hba.conf')).toThrow(
      /^\/etc\/hba.conf:2: pg_hba rule "include x.conf" refused/,
    );
  });
});
