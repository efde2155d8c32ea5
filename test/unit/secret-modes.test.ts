import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { planPair, type PairPresence } from '../../src/secrets/index.js';

const base: PairPresence = {
  leafDir: 'server-tls',
  caDir: 'server-ca',
  leafCert: false,
  leafKey: false,
  caCert: false,
  caKey: false,
  leafOptional: false,
};
const leaf = { leafCert: true, leafKey: true };

describe('planPair chooses the mode from what is mounted', () => {
  it.each([
    ['nothing mounted', {}, { mode: 'automatic', leaf: 'issued' }],
    ['leaf and CA', { ...leaf, caCert: true }, { mode: 'provided', leaf: 'mounted' }],
    [
      'leaf and CA with its key (the leaf wins)',
      { ...leaf, caCert: true, caKey: true },
      { mode: 'provided', leaf: 'mounted' },
    ],
    ['CA with its key, no leaf', { caCert: true, caKey: true }, { mode: 'hybrid', leaf: 'issued' }],
    ['only the CA, leaf optional', { caCert: true, leafOptional: true }, { mode: 'provided', leaf: 'none' }],
  ])('%s', (_name, presence, plan) => {
    expect(planPair({ ...base, ...presence })).toEqual(plan);
  });
});

describe('planPair refuses layouts it cannot serve, naming the directory', () => {
  it.each([
    ['certificate without key', { leafCert: true, caCert: true }, /server-tls\/: tls.crt is mounted without tls.key/],
    ['key without certificate', { leafKey: true, caCert: true }, /server-tls\/: tls.key is mounted without tls.crt/],
    ['CA key without CA certificate', { caKey: true }, /server-ca\/: ca.key is mounted without ca.crt/],
    ['leaf without any CA', { ...leaf }, /server-tls\/ is mounted without its CA: mount server-ca\/ca.crt/],
    [
      'CA without key and no leaf to serve',
      { caCert: true },
      /server-ca\/ca.crt is mounted without ca.key and server-tls\/ is missing/,
    ],
  ])('%s', (_name, presence, message) => {
    expect(() => planPair({ ...base, ...presence })).toThrow(UsageError);
    expect(() => planPair({ ...base, ...presence })).toThrow(message);
  });
});
