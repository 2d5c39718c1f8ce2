import { describe, expect, it } from 'vitest'
import { allocateSubnets, networkOf, overlaps, parseCidr4, contains } from '../../src/net/ip.ts'
import * as v from '../../src/net/validate.ts'

const c = (s: string) => parseCidr4(s)!

describe('CIDR math', () => {
  it('parses and rejects', () => {
    expect(parseCidr4('10.1.1.1/24')).toMatchObject({ prefix: 24, address: '10.1.1.1' })
    expect(networkOf(c('10.1.1.1/24'))).toBe('10.1.1.0/24')
    for (const bad of ['10.0.0.0/33', '10.0.0/24', '256.1.1.1/8', '10.0.0.0/024', '10.0.0.0', 'x/24']) expect(parseCidr4(bad)).toBeNull()
  })
  it('overlap and containment', () => {
    expect(overlaps(c('10.0.0.0/8'), c('10.5.0.0/16'))).toBe(true)
    expect(overlaps(c('10.1.0.0/24'), c('10.1.1.0/24'))).toBe(false)
    expect(contains(c('198.18.0.0/15'), '198.19.3.4')).toBe(true)
    expect(contains(c('198.18.0.0/16'), '198.19.3.4')).toBe(false)
  })
  it('allocates non-overlapping subnets deterministically, skipping taken ones', () => {
    const got = allocateSubnets(c('10.244.0.0/16'), 24, 3, [c('10.244.1.0/24')]).map(networkOf)
    expect(got).toEqual(['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24'])
    expect(() => allocateSubnets(c('10.0.0.0/30'), 30, 2)).toThrow(/room for only 1/)
  })
})

describe('validators name the variable and what was expected', () => {
  it('interface names', () => {
    expect(v.ifname('dev', 'eth0')).toBe('eth0')
    expect(() => v.ifname('dev', 'eth0;reboot')).toThrow(/dev: expected an interface name .* got "eth0;reboot"/)
    expect(() => v.ifname('dev', 'a-very-long-name0')).toThrow(/dev/)
  })
  it('CIDRs, bip and networks', () => {
    expect(() => v.cidr4('subnet', '10.0.0.0/33')).toThrow(/subnet: expected an IPv4 CIDR/)
    expect(() => v.hostCidr4('bip', '10.1.0.0/24')).toThrow(/bip: expected a host address with prefix, e\.g\. 10\.1\.0\.1\/24/)
    expect(() => v.hostCidr4('bip', '10.1.0.255/24')).toThrow(/bip/)
    expect(v.hostCidr4('bip', '10.1.0.1/24').prefix).toBe(24)
    expect(() => v.network4('to', '10.1.0.5/24')).toThrow(/to: expected a network address .* 10\.1\.0\.0\/24/)
    expect(v.routeDest('to', 'default')).toBe('default')
  })
  it('numbers', () => {
    expect(v.vni('vni', 42)).toBe(42)
    expect(() => v.vni('vni', 0)).toThrow(/vni: expected an integer from 1 to 16777215/)
    expect(v.mtu('mtu', '1450')).toBe(1450)
    expect(() => v.mtu('mtu', 1450.5)).toThrow(/mtu/)
  })
})
