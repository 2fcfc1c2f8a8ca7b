#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: proxy_arp
short_description: Set the per-interface sysctls Felix sets on a workload interface (proxy ARP, forwarding, ...)
version_added: 0.1.0
description:
  - Sets C(net.ipv4.conf.<if>.proxy_arp), C(net.ipv4.neigh.<if>.proxy_delay),
    C(net.ipv4.conf.<if>.forwarding), C(net.ipv4.conf.<if>.route_localnet), C(net.ipv4.conf.<if>.rp_filter)
    and C(net.ipv6.conf.<if>.accept_ra) on many interfaces in one call, on the host the module runs on or
    inside named network namespaces.
  - These are the values Felix writes on every C(cali*) interface (C(configureInterface) and
    C(configureProcSysForInterface) in C(felix/dataplane/linux/endpoint_mgr.go)); the CNI plugin writes
    the same IPv4 ones and C(accept_ra=0) (C(configureSysctls) in C(cni-plugin/pkg/dataplane/linux/dataplane_linux.go)).
  - Calico's values are the defaults - proxy ARP on, so the host answers a pod's ARP for the fake
    gateway C(169.254.1.1) with the interface's MAC; proxy_delay 0, because otherwise the first reply
    waits a random time of up to 80 ms; forwarding on.
  - Proxy ARP answers only when the host has a route to the asked address through another interface;
    a host without a default route leaves pods with C(169.254.1.1 INCOMPLETE).
  - With O(ipv6), the IPv6 half of the same functions for a pod with IPv6 - C(disable_ipv6=0), C(accept_dad=0),
    C(proxy_ndp=1) and C(forwarding=1) under C(net.ipv6.conf.<if>). No proxy-NDP or static NDP entries are
    made - the pod's IPv6 gateway is the host end's real link-local address.
  - Optionally sets the namespace-wide C(net.ipv4.ip_forward) and C(net.ipv6.conf.all.forwarding).
  - Reports every value before and after; a missing interface fails the task before anything changes.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  interfaces:
    description:
      - Interfaces to configure - names, or dicts with C(name) and any of the per-interface
        options. Top-level options are the defaults for each item.
    type: list
    elements: raw
    default: []
  proxy_arp:
    description: Value of C(proxy_arp), a boolean; C(null) leaves it alone.
    type: raw
    default: true
  proxy_delay:
    description:
      - Value of C(neigh/<if>/proxy_delay) in 1/100 s; C(null) leaves it alone. The kernel keeps it in
        jiffies and may read a value back one lower, which counts as equal.
    type: raw
    default: 0
  forwarding:
    description: Value of C(conf/<if>/forwarding), a boolean; C(null) leaves it alone.
    type: raw
    default: true
  route_localnet:
    description: Value of C(conf/<if>/route_localnet), a boolean; C(null) leaves it alone.
    type: raw
    default: true
  rp_filter:
    description:
      - Value of C(conf/<if>/rp_filter) - 0, 1 or 2, V(default) for the value of C(net.ipv4.conf.default.rp_filter)
        in the same namespace (what Felix writes unless the workload may spoof its source address), or
        C(null) to leave it alone.
    type: raw
    default: default
  accept_ra:
    description:
      - Value of C(net.ipv6.conf.<if>.accept_ra); C(null) leaves it alone. Felix and the CNI plugin set 0 on
        every workload interface "for security", even without IPv6 addresses. Skipped where the kernel
        has no IPv6 (no C(/proc/sys/net/ipv6)).
    type: raw
    default: 0
  ipv6:
    description:
      - Also the IPv6 settings of a workload interface - C(disable_ipv6=0), C(accept_dad=0), C(proxy_ndp=1),
        C(forwarding=1), as C(configureSysctls) in C(cni-plugin/pkg/dataplane/linux/dataplane_linux.go) and
        C(configureInterface) in C(felix/dataplane/linux/endpoint_mgr.go) write them for a pod with IPv6.
        Fails where the kernel has no IPv6.
    type: bool
    default: false
  netns:
    description: Network namespace of the interfaces (default where the module runs).
    type: str
  ip_forward:
    description: Value of C(net.ipv4.ip_forward) in O(netns); C(null) leaves it alone.
    type: bool
  ip6_forward:
    description:
      - Value of C(net.ipv6.conf.all.forwarding) in O(netns); C(null) leaves it alone. A Calico host
        with IPv6 forwards it. Fails where the kernel has no IPv6.
    type: bool
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Writes C(/proc/sys) directly, or through C(ip netns exec) for a namespace; needs root.
seealso:
  - module: labnet.calico.calico_veth
'''

EXAMPLES = r'''
- name: Calico's settings on the host side of every pod
  labnet.calico.proxy_arp:
    interfaces: [cali5d9d6d0b1e8, cali0b5c7e1d2a4]
    ip_forward: true

- name: The same for pods with IPv6, and IPv6 forwarding on the host
  labnet.calico.proxy_arp:
    interfaces: [cali5d9d6d0b1e8, cali0b5c7e1d2a4]
    ipv6: true
    ip6_forward: true

- name: Proxy ARP without changing forwarding
  labnet.calico.proxy_arp:
    forwarding: null
    interfaces:
      - name: veth-a
        proxy_delay: 0
'''

RETURN = r'''
before:
  description: Values before the run, by sysctl path under C(/proc/sys) (prefixed by C([netns]) in a namespace).
  returned: always
  type: dict
  sample: {net/ipv4/conf/cali5d9d6d0b1e8/proxy_arp: '0'}
after:
  description: Values after the run (what they would be in check mode).
  returned: always
  type: dict
  sample: {net/ipv4/conf/cali5d9d6d0b1e8/proxy_arp: '1'}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    run_guarded,
    LabError, check_ifname, check_netns,
)
from ansible_collections.labnet.calico.plugins.module_utils.interface_sysctls import (
    FELIX_VALUES, IP6_FORWARD, IP_FORWARD, SETTINGS, SETTINGS_V6,
    plan_interface_sysctls, sysctl_value, write_interface_sysctls,
)


def wanted_values(params):
    """{netns: {sysctl path: value}}, every input validated first."""
    wanted = {}
    default_netns = check_netns(params['netns'], 'netns')
    for index, item in enumerate(params['interfaces']):
        field = 'interfaces[%d]' % index
        if isinstance(item, str):
            item = {'name': item}
        if not isinstance(item, dict):
            raise LabError('%s: expected an interface name or a dict with name' % field)
        unknown = set(item) - set(SETTINGS) - set(['name', 'netns', 'ipv6'])
        if unknown:
            raise LabError('%s: unknown option(s) %s' % (field, ', '.join(sorted(unknown))))
        name = check_ifname(item.get('name'), field + '.name')
        netns = check_netns(item['netns'], field + '.netns') if item.get('netns') else default_netns
        for option, path in SETTINGS.items():
            value = item[option] if option in item else params[option]
            if value is not None:
                wanted.setdefault(netns, {})[path % name] = sysctl_value(option, value, '%s.%s' % (field, option))
        if sysctl_value('ipv6', item.get('ipv6', params['ipv6']), field + '.ipv6') == '1':
            for path, value in SETTINGS_V6.items():
                wanted.setdefault(netns, {})[path % name] = value
    for option, path in (('ip_forward', IP_FORWARD), ('ip6_forward', IP6_FORWARD)):
        if params[option] is not None:
            wanted.setdefault(default_netns, {})[path] = sysctl_value(option, params[option], option)
    return wanted


def run_module(module):
    before, after, writes = plan_interface_sysctls(module, wanted_values(module.params))
    write_interface_sysctls(module, writes)
    result = {'changed': bool(writes), 'before': before, 'after': after}
    if module._diff:
        result['diff'] = {'before': ''.join('%s = %s\n' % kv for kv in sorted(before.items())),
                          'after': ''.join('%s = %s\n' % kv for kv in sorted(after.items()))}
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type='list', elements='raw', default=[]),
            # raw, so that null (leave it alone) is not refused by Ansible's type conversion
            proxy_arp=dict(type='raw', default=FELIX_VALUES['proxy_arp']),
            proxy_delay=dict(type='raw', default=FELIX_VALUES['proxy_delay']),
            forwarding=dict(type='raw', default=FELIX_VALUES['forwarding']),
            route_localnet=dict(type='raw', default=FELIX_VALUES['route_localnet']),
            rp_filter=dict(type='raw', default=FELIX_VALUES['rp_filter']),
            accept_ra=dict(type='raw', default=FELIX_VALUES['accept_ra']),
            netns=dict(type='str'),
            ip_forward=dict(type='bool'),
            ipv6=dict(type='bool', default=False),
            ip6_forward=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
