#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_tunnel
short_description: Manage Calico's IP-in-IP (tunl0) or VXLAN (vxlan.calico, vxlan-v6.calico) tunnel devices
version_added: 0.1.0
description:
  - IPIP mode - brings up the kernel's IP-in-IP fallback device C(tunl0) (loading the C(ipip) driver
    when needed) with a C(/32) address (Calico uses the first address of the host's block) and an MTU
    (the underlay's minus 20).
  - VXLAN mode - creates C(vxlan.calico) with a VNI, a UDP port, a parent device, the node's address as
    source and learning off (Calico programs neighbour and FDB entries itself), MTU the underlay's
    minus 50. A VNI, port, parent or source address that drifted makes the module recreate the device.
  - VXLAN over IPv6 - with O(local6) (and O(address6), O(mac6)) the same call also manages
    C(vxlan-v6.calico), Felix's IPv6 VXLAN device (C(VXLANIfaceNameV6) in
    C(felix/dataplane/linux/dataplanedefs/dataplane_defs.go)) - the same VNI and port, the node's IPv6
    address as source, the IPv6 tunnel address as a C(/128) (C(ensureAddressOnLink) in
    C(felix/dataplane/linux/route_mgr.go)), MTU the underlay's minus 70 (C(vxlanV6MTUOverhead) in
    C(felix/dataplane/linux/int_dataplane.go)). In VXLAN mode without O(local6) the lab's
    C(vxlan-v6.calico) is removed, as it is by O(exclusive), O(mode=all) and VXLAN's O(state=absent).
  - IPv6-only - with O(local6) and none of O(local), O(address), O(mac), the call makes C(vxlan-v6.calico)
    alone and removes the lab's C(vxlan.calico) (a node without IPv4 has no IPv4 VTEP); RV(tunnel) is then
    the removed C(vxlan.calico).
  - Fails before changing anything when the kernel has no driver for the mode, and says so.
  - One call can also remove the lab's device of the other mode (O(exclusive)), or both devices
    (O(mode=all) with O(state=absent)), so that a switch between modes, or a teardown, is one module run.
  - The device is tagged with the interface alias C(labnet.calico:tunnel); a device without the tag
    is never changed by O(state=absent). C(tunl0) cannot be deleted (the kernel owns it), so
    O(state=absent) removes its addresses, sets it down and drops the tag.
requirements:
  - The C(ipip) kernel driver for O(mode=ipip), C(vxlan) for O(mode=vxlan)
author:
  - labnet.calico contributors (@labnet-calico)
options:
  mode:
    description:
      - Tunnel type. V(all) (only with O(state=absent)) means both devices, C(tunl0) and
        C(vxlan.calico), each under its default name.
    type: str
    choices: [ipip, vxlan, all]
    default: ipip
  exclusive:
    description:
      - With O(state=present), also remove the lab's device of the other mode (as O(state=absent)
        would, under its default name) in the same run, so that a lab switching modes keeps one tunnel.
    type: bool
    default: false
  name:
    description:
      - Device name. V(tunl0) for IPIP (the kernel's fallback device, the only one Calico uses),
        V(vxlan.calico) for VXLAN by default.
    type: str
  address:
    description:
      - IPv4 address of the device, a C(/32) unless a prefix is given. Other IPv4 addresses on the
        device are removed. Unmanaged when not given.
    type: str
  mtu:
    description: Device MTU. Unmanaged when neither O(mtu) nor O(mtu_from) is given.
    type: int
  mtu_from:
    description:
      - Take the MTU from this underlay device, less the encapsulation overhead (20 bytes for IPIP,
        50 for VXLAN), as Calico does. A 1500 underlay gives 1480 and 1450.
    type: str
  vni:
    description: VXLAN network identifier (VXLAN only).
    type: int
    default: 4096
  port:
    description: VXLAN UDP destination port (VXLAN only).
    type: int
    default: 4789
  parent:
    description: Underlay device VXLAN packets leave by (VXLAN only; required to create the device).
    type: str
  local:
    description: Source address of VXLAN packets, the node's underlay address (VXLAN only).
    type: str
  mac:
    description: MAC of the VXLAN device (VXLAN only). Unmanaged when not given.
    type: str
  local6:
    description:
      - The node's IPv6 underlay address, source of C(vxlan-v6.calico)'s packets (VXLAN only). Makes the call
        manage C(vxlan-v6.calico) too (on O(parent), with O(vni) and O(port); its MTU from O(mtu_from) less 70,
        or O(mtu) as for C(vxlan.calico)).
    type: str
  address6:
    description: IPv6 address of C(vxlan-v6.calico), a C(/128) unless a prefix is given (needs O(local6)).
    type: str
  mac6:
    description: MAC of C(vxlan-v6.calico) (needs O(local6)). Unmanaged when not given.
    type: str
  state:
    description: V(present) creates or repairs the device; V(absent) removes it (see above for C(tunl0)).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs C(ip) with argument lists and C(LC_ALL=C); needs root.
seealso:
  - module: labnet.calico.calico_route
'''

EXAMPLES = r'''
- name: IPIP, as Calico sets it up on a node whose block is 10.10.0.0/24
  labnet.calico.calico_tunnel:
    mode: ipip
    address: 10.10.0.0
    mtu_from: eth0

- name: VXLAN device of the node 172.16.91.201, and no tunl0 of an earlier IPIP run
  labnet.calico.calico_tunnel:
    mode: vxlan
    exclusive: true
    parent: eth0
    local: 172.16.91.201
    address: 10.10.0.1
    mtu: 1450

- name: Dual stack - vxlan.calico and vxlan-v6.calico in one call
  labnet.calico.calico_tunnel:
    mode: vxlan
    parent: eth0
    local: 172.16.91.201
    address: 10.10.0.1
    local6: 'fd00:91::201'
    address6: 'fd00:10:244::1'
    mtu_from: eth0

- name: BGP mode - no tunnel device of the lab left, whichever mode ran before
  labnet.calico.calico_tunnel:
    mode: all
    state: absent
'''

RETURN = r'''
tunnel:
  description: The device after the run (what it would be in check mode).
  returned: unless O(mode=all)
  type: dict
  sample: {name: tunl0, mode: ipip, state: present, address: 10.10.0.1/32, mtu: 1480, up: true}
tunnel6:
  description: C(vxlan-v6.calico) after the run, when O(local6) is given.
  returned: when O(local6) is given
  type: dict
  sample: {name: vxlan-v6.calico, mode: vxlan6, state: present, address: 'fd00:10:244::1/128', mtu: 1430, up: true}
tunnels:
  description: Every device the call handled (the other mode's too, with O(exclusive) or O(mode=all)).
  returned: always
  type: list
  elements: dict
  sample: [{name: vxlan.calico, mode: vxlan, state: absent, address: null, mtu: null, up: false}]
commands:
  description: The commands run, or that would run in check mode.
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    run_guarded,
    Change, IPRoute, LabError, check_ifname, check_mac, check_mtu, diff_text, is_lab_alias,
    lab_alias, parse_ipv4_address, parse_ipv4_interface, parse_ipv6_address, parse_ipv6_interface,
)
from ansible_collections.labnet.calico.plugins.module_utils.tunnel_mtu import kernel_has_driver, mtu_from_underlay

TUNNEL_ALIAS = lab_alias('tunnel')
DEFAULT_NAMES = {'ipip': 'tunl0', 'vxlan': 'vxlan.calico', 'vxlan6': 'vxlan-v6.calico'}
# vxlan6 is VXLAN over IPv6: a vxlan device, from the vxlan driver.
KINDS = {'ipip': 'ipip', 'vxlan': 'vxlan', 'vxlan6': 'vxlan'}
V6_OPTIONS = ('local6', 'address6', 'mac6')
NO_DRIVER_HINT = {
    'ipip': 'IPIP mode cannot run on this host. Use BGP mode (hosts on one L2 segment), VXLAN mode, or '
            'hosts whose kernel has ipip (for example the VMs of the qemu provider).',
    'vxlan': 'VXLAN mode cannot run on this host. Use BGP or IPIP mode, or hosts whose kernel has vxlan.',
}


def wanted_tunnels(params):
    """The devices of one call, the ones to remove first: [spec, ...]."""
    mode, state = params['mode'], params['state']
    if mode == 'all':
        if state != 'absent':
            raise LabError('mode: all is only for state absent (which device should be made?)')
        for option in ('name', 'address', 'mtu', 'mtu_from', 'parent', 'local', 'mac') + V6_OPTIONS:
            if params[option] is not None:
                raise LabError('%s: not with mode all (each device keeps its default name)' % option)
        return [absent_tunnel('ipip'), absent_tunnel('vxlan'), absent_tunnel('vxlan6')]
    for option in V6_OPTIONS:
        if params[option] is not None and mode != 'vxlan':
            raise LabError('%s: only for mode vxlan' % option)
        if params[option] is not None and state == 'present' and not params['local6']:
            raise LabError('%s: needs local6 (the source of vxlan-v6.calico)' % option)
    spec = wanted_tunnel(params)
    specs = [spec]
    if mode == 'vxlan':
        # The IPv6 device goes with the IPv4 one: made with local6, removed without it or with VXLAN off.
        specs.insert(0, wanted_tunnel6(params, spec) if params['local6'] and state == 'present'
                     else absent_tunnel('vxlan6'))
        if params['local6'] and state == 'present' and not (params['local'] or params['address'] or params['mac']):
            # An IPv6-only host: vxlan-v6.calico alone, as Felix makes no IPv4 VTEP for a node without IPv4.
            specs[1] = absent_tunnel('vxlan')
    if params['exclusive'] and state == 'present':
        others = ['vxlan', 'vxlan6'] if mode == 'ipip' else ['ipip']
        specs = [absent_tunnel(other) for other in others] + specs
    return specs


def wanted_tunnel6(params, spec):
    """vxlan-v6.calico beside vxlan.calico: its VNI, port and parent, IPv6 source and address."""
    spec6 = dict(spec, mode='vxlan6', name=DEFAULT_NAMES['vxlan6'], address=None, mtu=spec['mtu'],
                 local=str(parse_ipv6_address(params['local6'], 'local6')),
                 mac=check_mac(params['mac6'], 'mac6') if params['mac6'] else None)
    if params['address6'] is not None:
        spec6['address'] = str(parse_ipv6_interface(params['address6'], 'address6'))
    return spec6


def absent_tunnel(mode):
    """The spec that removes the lab's device of MODE, under its default name."""
    return {'mode': mode, 'name': DEFAULT_NAMES[mode], 'mtu': None, 'address': None, 'state': 'absent',
            'mtu_from': None}


def addresses_of(spec, link):
    """The device's addresses of the spec's family (vxlan-v6.calico: IPv6 but link-local)."""
    return link['addresses6' if spec['mode'] == 'vxlan6' else 'addresses']


def wanted_tunnel(params):
    mode = params['mode']
    name = check_ifname(params['name'] or DEFAULT_NAMES[mode], 'name')
    if mode == 'ipip' and name != 'tunl0':
        raise LabError('name: IPIP uses the kernel fallback device tunl0 (as Calico does), not %r' % name)
    spec = {'mode': mode, 'name': name, 'mtu': check_mtu(params['mtu'], 'mtu'), 'address': None,
            'state': params['state'],
            'mtu_from': check_ifname(params['mtu_from'], 'mtu_from') if params['mtu_from'] else None}
    if params['address'] is not None:
        spec['address'] = str(parse_ipv4_interface(params['address'], 'address'))
    if mode == 'vxlan':
        if not 1 <= params['vni'] <= 16777215:
            raise LabError('vni: %d is outside 1-16777215' % params['vni'])
        if not 1 <= params['port'] <= 65535:
            raise LabError('port: %d is outside 1-65535' % params['port'])
        spec.update({
            'vni': params['vni'], 'port': params['port'],
            'parent': check_ifname(params['parent'], 'parent') if params['parent'] else None,
            'local': str(parse_ipv4_address(params['local'], 'local')) if params['local'] else None,
            'mac': check_mac(params['mac'], 'mac') if params['mac'] else None,
        })
    else:
        for option in ('parent', 'local', 'mac'):
            if params[option]:
                raise LabError('%s: only for mode vxlan' % option)
    return spec


def describe(link):
    if link is None:
        return ''
    words = [link['name'], link.get('kind') or '?', 'mtu %s' % link['mtu'], 'up' if link['up'] else 'down',
             ' '.join(link['addresses'] + link.get('addresses6', [])) or '-']
    info = link.get('info') or {}
    if link.get('kind') == 'vxlan':
        words.append('id %s port %s dev %s local %s learning %s' % (
            info.get('id'), info.get('port'), info.get('link'), info.get('local', info.get('local6')),
            info.get('learning')))
    return ' '.join(words)


def vxlan_drift(spec, link):
    """Attributes the kernel cannot change in place; any of them wrong means delete and recreate."""
    info = link.get('info') or {}
    drift = []
    if info.get('id') != spec['vni']:
        drift.append('vni')
    if info.get('port') != spec['port']:
        drift.append('port')
    if spec['parent'] and info.get('link') != spec['parent']:
        drift.append('parent')
    if spec['local'] and info.get('local6' if spec['mode'] == 'vxlan6' else 'local') != spec['local']:
        drift.append('local')
    if info.get('learning', False):
        drift.append('learning')
    return drift


def plan(module, iproute, spec):
    name = spec['name']
    if spec['mtu_from'] and spec['state'] == 'present':
        spec['mtu'] = mtu_from_underlay(iproute, spec['mtu_from'], spec['mode'], 'mtu_from')
    link = iproute.link(name)
    if link is not None and link.get('kind') != KINDS[spec['mode']]:
        raise LabError('name: %s exists but is a %s device, not %s' % (name, link.get('kind'), KINDS[spec['mode']]))
    before = describe(link)
    changes, pre = [], []

    if spec['state'] == 'absent':
        if link is None or not is_lab_alias(link['alias']):
            return pre, changes, before, before
        if spec['mode'] != 'ipip':
            changes.append(Change(None, ['link', 'del', name]))
            return pre, changes, before, ''
        # tunl0 belongs to the kernel: undo what the lab set on it.
        for address in link['addresses']:
            changes.append(Change(None, ['addr', 'del', address, 'dev', name]))
        if link['up']:
            changes.append(Change(None, ['link', 'set', 'dev', name, 'down']))
        changes.append(Change(None, ['link', 'set', 'dev', name, 'alias', '']))
        after = dict(link, up=False, addresses=[])
        return pre, changes, before, describe(after)

    kind = KINDS[spec['mode']]
    if link is None and not kernel_has_driver(module, kind):
        raise LabError('the kernel of this host (%s) has no %s driver (no /sys/module/%s and modinfo %s '
                       'finds nothing). %s' % (os.uname()[2], kind, kind, kind, NO_DRIVER_HINT[kind]))

    if kind == 'vxlan' and link is not None and is_lab_alias(link['alias']) and vxlan_drift(spec, link):
        changes.append(Change(None, ['link', 'del', name]))
        link = None
    elif link is not None and not is_lab_alias(link['alias']) and kind == 'vxlan':
        raise LabError('name: %s exists and was not made by this lab (alias %r); refusing to change it'
                       % (name, link['alias']))

    if link is None:
        if spec['mode'] == 'ipip':
            # Loading the driver makes the kernel create tunl0 in every namespace; adding it
            # explicitly covers a namespace made with net.core.fb_tunnels_only_for_init_net=1.
            pre.append(['modprobe', 'ipip'])
            changes.append(Change(None, ['link', 'add', 'name', name, 'type', 'ipip']))
        else:
            if not spec['parent'] or not spec['local']:
                raise LabError('parent: VXLAN needs parent and local to create %s' % name)
            add = ['link', 'add', name, 'type', 'vxlan', 'id', spec['vni'], 'dstport', spec['port'],
                   'dev', spec['parent'], 'local', spec['local'], 'nolearning']
            changes.append(Change(None, add))
        link = {'name': name, 'kind': kind, 'mtu': None, 'up': False, 'addresses': [], 'addresses6': [],
                'alias': '', 'mac': None, 'info': {'id': spec.get('vni'), 'port': spec.get('port'),
                                                   'link': spec.get('parent'), 'local': spec.get('local'),
                                                   'learning': False}}

    if link['alias'] != TUNNEL_ALIAS:
        changes.append(Change(None, ['link', 'set', 'dev', name, 'alias', TUNNEL_ALIAS]))
    if kind == 'vxlan' and spec['mac'] and link['mac'] != spec['mac']:
        changes.append(Change(None, ['link', 'set', 'dev', name, 'address', spec['mac']]))
    if spec['mtu'] is not None and link['mtu'] != spec['mtu']:
        changes.append(Change(None, ['link', 'set', 'dev', name, 'mtu', spec['mtu']]))
    addresses = addresses_of(spec, link)
    if spec['address'] is not None:
        for address in addresses:
            if address != spec['address']:
                changes.append(Change(None, ['addr', 'del', address, 'dev', name]))
        if spec['address'] not in addresses:
            # nodad: a tunnel address needs no duplicate detection (it is usable at once).
            changes.append(Change(None, ['addr', 'add', spec['address'], 'dev', name]
                                  + (['nodad'] if spec['mode'] == 'vxlan6' else [])))
        addresses = [spec['address']]
    if not link['up']:
        changes.append(Change(None, ['link', 'set', 'dev', name, 'up']))
    after = dict(link, mtu=spec['mtu'] or link['mtu'] or {'ipip': 1480, 'vxlan': 1450, 'vxlan6': 1430}[spec['mode']],
                 up=True, **{'addresses6' if spec['mode'] == 'vxlan6' else 'addresses': addresses})
    return pre, changes, before, describe(after)


def run_module(module):
    specs = wanted_tunnels(module.params)
    iproute = IPRoute(module)
    pre, changes, before, after = [], [], [], []
    for spec in specs:
        spec_pre, spec_changes, was, will_be = plan(module, iproute, spec)
        pre.extend(spec_pre)
        changes.extend(spec_changes)
        before.extend([was] if was else [])
        after.extend([will_be] if will_be else [])
    commands = [' '.join(argv) for argv in pre]
    if pre and not module.check_mode:
        for argv in pre:
            binary = module.get_bin_path(argv[0], required=True)
            rc, out, err = module.run_command([binary] + argv[1:], environ_update={'LC_ALL': 'C'})
            if rc != 0:
                raise LabError('%s failed: %s' % (' '.join(argv), (err or out).strip()))
        if iproute.link('tunl0') is not None:  # the driver made tunl0 itself
            changes = [c for c in changes if c.args[:4] != ['link', 'add', 'name', 'tunl0']]
    iproute.apply(changes)
    tunnels = []
    for spec in specs:
        final = iproute.link(spec['name']) if changes and not module.check_mode else None
        tunnels.append({'name': spec['name'], 'mode': spec['mode'], 'state': spec['state'],
                        'address': spec['address'], 'mtu': final['mtu'] if final else spec['mtu'],
                        'up': final['up'] if final else spec['state'] == 'present'})
    result = {'changed': bool(commands or changes), 'commands': commands + iproute.done, 'tunnels': tunnels}
    if module.params['mode'] != 'all':
        result['tunnel'] = tunnels[-1]
    if module.params['local6'] and module.params['state'] == 'present':
        result['tunnel6'] = tunnels[-2]
    if module._diff:
        result['diff'] = {'before': diff_text(before), 'after': diff_text(after)}
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type='str', choices=['ipip', 'vxlan', 'all'], default='ipip'),
            exclusive=dict(type='bool', default=False),
            name=dict(type='str'),
            address=dict(type='str'),
            mtu=dict(type='int'),
            mtu_from=dict(type='str'),
            vni=dict(type='int', default=4096),
            port=dict(type='int', default=4789),
            parent=dict(type='str'),
            local=dict(type='str'),
            mac=dict(type='str'),
            local6=dict(type='str'),
            address6=dict(type='str'),
            mac6=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        mutually_exclusive=[('mtu', 'mtu_from')],
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
