#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_neigh
short_description: Manage permanent neighbour (ARP) and VXLAN forwarding (FDB) entries
version_added: 0.1.0
description:
  - Adds, replaces or removes permanent IPv4 and IPv6 neighbour entries (C(ip neigh ... nud permanent)) and
    forwarding database entries of a VXLAN device (C(bridge fdb ... dst <peer> self permanent)).
  - VXLAN mode needs both for every peer, as Calico's Felix programs them - the peer's tunnel
    address resolves to the peer's VTEP MAC, and that MAC is sent to the peer's underlay address.
  - The seeds also add a permanent neighbour for C(169.254.1.1) inside each pod; Calico relies on
    proxy ARP instead, so that is an option of the workloads role, off by default.
  - With O(purge=true), permanent entries on the devices named in this call that are not listed are
    removed; entries the kernel made, and devices not named, are never touched.
requirements:
  - C(bridge) (iproute2) for the FDB entries
author:
  - labnet.calico contributors (@labnet-calico)
options:
  neighbours:
    description: Permanent neighbour entries.
    type: list
    elements: dict
    default: []
    suboptions:
      address:
        description: IPv4 or IPv6 address (C(ip neigh) reads both families of a device).
        type: str
        required: true
      lladdr:
        description: Its MAC address.
        type: str
        required: true
      dev:
        description: Interface.
        type: str
        required: true
      netns:
        description: Network namespace (default where the module runs).
        type: str
  fdb:
    description: Forwarding entries of a VXLAN device.
    type: list
    elements: dict
    default: []
    suboptions:
      lladdr:
        description: Remote VTEP MAC address.
        type: str
        required: true
      dev:
        description: VXLAN device.
        type: str
        required: true
      dst:
        description: Underlay address of the remote VTEP, IPv4 or IPv6 (C(vxlan-v6.calico)'s peers).
        type: str
        required: true
  state:
    description: V(present) adds or replaces the listed entries; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description: Remove permanent entries on the named devices that are not listed.
    type: bool
    default: false
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs C(ip) and C(bridge) with argument lists and C(LC_ALL=C); needs root.
seealso:
  - module: labnet.calico.calico_tunnel
'''

EXAMPLES = r'''
- name: VXLAN peer host-b (VTEP 10.10.1.0, MAC 66:2a:..., node 172.16.91.202)
  labnet.calico.calico_neigh:
    purge: true
    neighbours:
      - {address: 10.10.1.0, lladdr: "66:2a:10:8b:51:04", dev: vxlan.calico}
    fdb:
      - {lladdr: "66:2a:10:8b:51:04", dev: vxlan.calico, dst: 172.16.91.202}
'''

RETURN = r'''
commands:
  description: The commands run, or that would run in check mode.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    exit_with_changes, run_guarded,
    Change, IPRoute, LabError, check_ifname, check_mac, check_netns, parse_ip_address,
)
from ansible_collections.labnet.calico.plugins.module_utils.neigh import neighbour_changes, plan_entries


def wanted_entries(params):
    neighbours, fdb = {}, {}
    for index, item in enumerate(params['neighbours']):
        field = 'neighbours[%d].' % index
        key = (check_netns(item['netns'], field + 'netns'), check_ifname(item['dev'], field + 'dev'),
               str(parse_ip_address(item['address'], field + 'address')))
        if key in neighbours:
            raise LabError('%saddress: %s on %s is listed twice' % (field, key[2], key[1]))
        neighbours[key] = check_mac(item['lladdr'], field + 'lladdr')
    for index, item in enumerate(params['fdb']):
        field = 'fdb[%d].' % index
        key = (check_ifname(item['dev'], field + 'dev'), check_mac(item['lladdr'], field + 'lladdr'))
        if key in fdb:
            raise LabError('%slladdr: %s on %s is listed twice' % (field, key[1], key[0]))
        fdb[key] = str(parse_ip_address(item['dst'], field + 'dst'))
    return neighbours, fdb


def run_module(module):
    params = module.params
    neighbours, fdb = wanted_entries(params)
    present = params['state'] == 'present'
    iproute = IPRoute(module)
    changes, before, after = neighbour_changes(iproute, neighbours, present, params['purge'])

    for dev in sorted(set(k[0] for k in fdb)):
        # The all-zero MAC entries are VXLAN's default destinations, not per-peer entries.
        current = dict((e['mac'].lower(), e.get('dst')) for e in
                       iproute.query(['fdb', 'show', 'dev', dev], tool='bridge')
                       if e.get('state') == 'permanent' and 'self' in (e.get('flags') or [])
                       and e['mac'] != '00:00:00:00:00:00')
        wanted = dict((k[1], dst) for k, dst in fdb.items() if k[0] == dev)
        to_set, to_delete, result = plan_entries(current, wanted, present, params['purge'])
        changes.extend(Change(None, ['fdb', 'replace', m, 'dev', dev, 'dst', d, 'self', 'permanent'], tool='bridge')
                       for m, d in sorted(to_set.items()))
        changes.extend(Change(None, ['fdb', 'del', m, 'dev', dev, 'self'], tool='bridge') for m in to_delete)
        before.extend('fdb %s dev %s dst %s' % (m, dev, d) for m, d in current.items())
        after.extend('fdb %s dev %s dst %s' % (m, dev, d) for m, d in result.items())

    iproute.apply(changes)
    exit_with_changes(module, iproute, before, after)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            neighbours=dict(type='list', elements='dict', default=[], options=dict(
                address=dict(type='str', required=True),
                lladdr=dict(type='str', required=True),
                dev=dict(type='str', required=True),
                netns=dict(type='str'),
            )),
            fdb=dict(type='list', elements='dict', default=[], options=dict(
                lladdr=dict(type='str', required=True),
                dev=dict(type='str', required=True),
                dst=dict(type='str', required=True),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            purge=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
