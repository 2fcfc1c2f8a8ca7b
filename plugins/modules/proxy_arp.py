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
from ansible_collections.labnet.calico.plugins.module_utils.sysctl import sysctl_access

# option -> sysctl path (under /proc/sys) for an interface
SETTINGS = {
    'proxy_arp': 'net/ipv4/conf/%s/proxy_arp',
    'proxy_delay': 'net/ipv4/neigh/%s/proxy_delay',
    'forwarding': 'net/ipv4/conf/%s/forwarding',
    'route_localnet': 'net/ipv4/conf/%s/route_localnet',
    'rp_filter': 'net/ipv4/conf/%s/rp_filter',
    'accept_ra': 'net/ipv6/conf/%s/accept_ra',
}
IP_FORWARD = 'net/ipv4/ip_forward'
IP6_FORWARD = 'net/ipv6/conf/all/forwarding'
# ipv6: true -> these values on the interface (the host end of a pod with IPv6).
SETTINGS_V6 = {
    'net/ipv6/conf/%s/disable_ipv6': '0',
    'net/ipv6/conf/%s/accept_dad': '0',
    'net/ipv6/conf/%s/proxy_ndp': '1',
    'net/ipv6/conf/%s/forwarding': '1',
}
# rp_filter: default copies this value of the same namespace (felix/dataplane/linux/int_dataplane.go).
RP_FILTER_DEFAULT = 'net/ipv4/conf/default/rp_filter'
COPY_DEFAULT = 'default'
# Present only where the kernel has IPv6; accept_ra is skipped elsewhere, as Felix skips it.
IPV6_PRESENT = 'net/ipv6/conf/all/accept_ra'


def sysctl_value(option, value, field):
    if isinstance(value, bool):
        return '1' if value else '0'
    if option == 'rp_filter':
        if str(value).strip() == COPY_DEFAULT:
            return COPY_DEFAULT
        if str(value).strip() not in ('0', '1', '2'):
            raise LabError('%s: %r is not 0, 1, 2 or default' % (field, value))
        return str(value).strip()
    if option == 'accept_ra':
        if str(value).strip() not in ('0', '1', '2'):
            raise LabError('%s: %r is not 0, 1 or 2' % (field, value))
        return str(value).strip()
    if option == 'proxy_delay':
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise LabError('%s: %r is not a number' % (field, value))
        if number < 0:
            raise LabError('%s: must not be negative' % field)
        return str(number)
    lowered = str(value).lower()
    if lowered in ('1', 'true', 'yes', 'on'):
        return '1'
    if lowered in ('0', 'false', 'no', 'off'):
        return '0'
    raise LabError('%s: %r is not a boolean' % (field, value))


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


def same_value(path, current, wanted):
    # The kernel keeps proxy_delay in jiffies, so a value in 1/100 s may read back one lower.
    if path.endswith('/proxy_delay'):
        return 0 <= int(wanted) - int(current) <= 1
    return current == wanted


def label(netns, path):
    return '[%s] %s' % (netns, path) if netns else path


def resolve(wanted, current, netns=None):
    """Replace 'default' rp_filter values by the namespace's default; drop accept_ra without IPv6, and
    refuse the IPv6 settings asked for by ipv6 or ip6_forward there."""
    resolved = {}
    for path, value in wanted.items():
        if path.startswith('net/ipv6/') and current.get(IPV6_PRESENT) is None:
            if path == IP6_FORWARD or not path.endswith('/accept_ra'):
                raise LabError('%s: the kernel of %s has no IPv6 (no /proc/sys/net/ipv6)' % (
                    'ip6_forward' if path == IP6_FORWARD else 'ipv6', 'namespace %s' % netns if netns else 'this host'))
            continue
        resolved[path] = current.get(RP_FILTER_DEFAULT) if value == COPY_DEFAULT else value
    return resolved


def run_module(module):
    wanted = wanted_values(module.params)
    before, after, writes = {}, {}, {}
    for netns in sorted(wanted, key=lambda ns: ns or ''):
        current = sysctl_access(module, netns, sorted(set(wanted[netns]) | set([RP_FILTER_DEFAULT, IPV6_PRESENT])))
        wanted[netns] = resolve(wanted[netns], current, netns)
        current = dict((path, current[path]) for path in wanted[netns])
        missing = sorted(path for path, value in current.items() if value is None)
        # In check mode an earlier task (calico_veth) would have made the interface: report the change.
        if missing and not module.check_mode:
            raise LabError('interfaces: no such interface in %s: %s' % (
                'namespace %s' % netns if netns else 'this host',
                ', '.join(sorted(set(path.split('/')[3] for path in missing if path not in (IP_FORWARD, IP6_FORWARD))))))
        for path, value in wanted[netns].items():
            before[label(netns, path)] = current[path]
            after[label(netns, path)] = value
            if current[path] is None or not same_value(path, current[path], value):
                writes.setdefault(netns, {})[path] = value
    if not module.check_mode:
        for netns, values in writes.items():
            sysctl_access(module, netns, [], values)
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
            proxy_arp=dict(type='raw', default=True),
            proxy_delay=dict(type='raw', default=0),
            forwarding=dict(type='raw', default=True),
            route_localnet=dict(type='raw', default=True),
            rp_filter=dict(type='raw', default=COPY_DEFAULT),
            accept_ra=dict(type='raw', default=0),
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
