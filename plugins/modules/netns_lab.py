#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: netns_lab
short_description: Build lab hosts as network namespaces of this machine, joined by a namespaced underlay
version_added: 0.1.0
description:
  - Each lab host is a network namespace with C(lo) up and an underlay interface (C(eth0)) carrying the
    host's address.
  - Hosts whose addresses share a subnet share one L2 segment - a bridge inside a switch namespace of
    its own. Hosts in different subnets are joined by one router namespace with a leg on every segment
    (the segment's first address unless O(hosts[].gateway) says otherwise) and forwarding on.
  - Every host gets a default route towards its segment (via the router, or C(dev eth0) on a single
    segment), so that proxy ARP on the host finds a route out of another interface.
  - Every link is created inside a namespace and its peer moved straight into another one; nothing is
    created in, attached to or routed through the namespace the module runs in.
  - O(state=absent) deletes exactly the host, switch and router namespaces of the given spec, and the
    pod namespaces named in O(pods); processes still running in them (for example BIRD) are
    terminated first, so nothing keeps a namespace alive.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  hosts:
    description: The lab hosts.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Namespace name of the host (the inventory hostname).
        type: str
        required: true
      address:
        description: Underlay address with prefix, e.g. C(172.16.91.201/24).
        type: str
        required: true
      dev:
        description: Underlay interface name inside the host.
        type: str
        default: eth0
      gateway:
        description: The router's address on this host's segment (only with several segments).
        type: str
  pods:
    description: Pod namespaces to delete with O(state=absent) (they are namespaces of this machine too).
    type: list
    elements: str
    default: []
  state:
    description: V(present) builds or repairs the lab hosts; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs root and iproute2 on the controller. Supports check mode and diff mode.
'''

EXAMPLES = r'''
- name: Host A and host B on one segment
  labnet.calico.netns_lab:
    hosts:
      - {name: host-a, address: 172.16.91.201/24}
      - {name: host-b, address: 172.16.91.202/24}
'''

RETURN = r'''
namespaces:
  description: Every namespace of the lab hosts' topology (hosts, switches, router).
  returned: always
  type: list
  elements: str
commands:
  description: Commands run, or that would run in check mode.
  returned: always
  type: list
  elements: str
'''

import hashlib
import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    Change, IPRoute, LabError, check_ifname, check_netns, diff_text, lab_alias, parse_ipv4_address,
    parse_ipv4_interface, sysctl_access,
)

UNDERLAY_ROUTE_PROTO = 79  # the default routes of the lab hosts; the datapath roles never purge it
ROUTER = 'lab-router'


def short_hash(text, length=8):
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:length]


def topology(params):
    """Validated spec: hosts with their segment, the switch and router namespaces."""
    hosts, seen = [], {}
    for index, item in enumerate(params['hosts']):
        field = 'hosts[%d].' % index
        name = check_netns(item['name'], field + 'name')
        address = parse_ipv4_interface(item['address'], field + 'address', default_prefix=24)
        if name in seen or str(address.ip) in seen:
            raise LabError('%sname: %s or %s is used twice' % (field, name, address.ip))
        seen[name] = seen[str(address.ip)] = True
        hosts.append({'name': name, 'address': str(address), 'network': address.network,
                      'dev': check_ifname(item.get('dev') or 'eth0', field + 'dev'),
                      'gateway': str(parse_ipv4_address(item['gateway'], field + 'gateway')) if item.get('gateway') else None,
                      'port': 'h' + short_hash(name, 10)})
    networks = sorted(set(h['network'] for h in hosts))
    segments = []
    for network in networks:
        members = [h for h in hosts if h['network'] == network]
        gateways = set(h['gateway'] for h in members if h['gateway'])
        if len(gateways) > 1:
            raise LabError('hosts: %s has several gateways %s' % (network, ', '.join(sorted(gateways))))
        gateway = gateways.pop() if gateways else str(next(network.hosts()))
        segments.append({'network': network, 'switch': 'lab-sw-' + short_hash(str(network)),
                         'leg': 'r' + short_hash(str(network), 10), 'gateway': gateway,
                         'gateway_address': '%s/%d' % (gateway, network.prefixlen)})
    routed = len(segments) > 1
    for host in hosts:
        segment = next(s for s in segments if s['network'] == host['network'])
        host['switch'] = segment['switch']
        host['default'] = segment['gateway'] if routed else None
        if routed and host['address'].split('/')[0] == segment['gateway']:
            raise LabError('hosts: %s has the router\'s address %s on its segment' % (host['name'], segment['gateway']))
    for name in [ROUTER] + [s['switch'] for s in segments]:
        if name in [h['name'] for h in hosts]:
            raise LabError('hosts: %s is the name of a lab switch or router namespace' % name)
    return hosts, segments, routed


def plan_present(iproute, hosts, segments, routed):
    namespaces = iproute.netns_names()
    changes, before, after = [], [], []
    for segment in segments:
        sw = segment['switch']
        links = iproute.links(sw) if sw in namespaces else {}
        if sw not in namespaces:
            changes.append(Change(None, ['netns', 'add', sw]))
        bridge = links.get('br0')
        if bridge is None:
            changes.append(Change(sw, ['link', 'add', 'br0', 'type', 'bridge']))
            changes.append(Change(sw, ['link', 'set', 'br0', 'alias', lab_alias('underlay')]))
        if bridge is None or not bridge['up']:
            changes.append(Change(sw, ['link', 'set', 'br0', 'up']))
        segment['links'] = links
        before.append('switch %s %s' % (sw, 'br0' if bridge else '-'))
        after.append('switch %s br0' % sw)
    if routed:
        if ROUTER not in namespaces:
            changes.append(Change(None, ['netns', 'add', ROUTER]))
        router_links = iproute.links(ROUTER) if ROUTER in namespaces else {}
        for segment in segments:
            leg, sw = segment['leg'], segment['switch']
            changes.extend(attach(segment['links'], sw, 'p' + leg[1:], ROUTER, leg, router_links.get(leg)))
            changes.extend(configure(ROUTER, leg, segment['gateway_address'], router_links.get(leg)))
        if ROUTER not in namespaces or not router_links.get('lo', {}).get('up'):
            changes.append(Change(ROUTER, ['link', 'set', 'lo', 'up']))
        after.append('router %s %s' % (ROUTER, ' '.join(s['gateway_address'] for s in segments)))
    for host in hosts:
        name = host['name']
        exists = name in namespaces
        links = iproute.links(name) if exists else {}
        routes = iproute.routes(name) if exists else []
        if not exists:
            changes.append(Change(None, ['netns', 'add', name]))
        if not links.get('lo', {}).get('up'):
            changes.append(Change(name, ['link', 'set', 'lo', 'up']))
        segment = next(s for s in segments if s['switch'] == host['switch'])
        underlay = links.get(host['dev'])
        changes.extend(attach(segment['links'], host['switch'], host['port'], name, host['dev'], underlay))
        changes.extend(configure(name, host['dev'], host['address'], underlay))
        default = [r for r in routes if r['dst'] == '0.0.0.0/0']
        wanted = {'via': host['default'], 'dev': host['dev']}
        if not (len(default) == 1 and default[0]['via'] == wanted['via'] and default[0]['dev'] == wanted['dev']):
            words = ['route', 'replace', 'default'] + (['via', host['default']] if host['default'] else []) + \
                ['dev', host['dev'], 'proto', str(UNDERLAY_ROUTE_PROTO)]
            changes.append(Change(name, words))
        before.append('host %s %s' % (name, ' '.join(underlay['addresses']) if underlay else '-'))
        after.append('host %s %s default %s' % (name, host['address'], host['default'] or 'dev ' + host['dev']))
    return changes, before, after


def attach(switch_links, switch, port, netns, dev, existing):
    """A veth from the switch's bridge into ``netns`` as ``dev``, created inside the switch namespace."""
    changes = []
    port_link = switch_links.get(port)
    if existing is None or port_link is None:
        if port_link is not None:
            changes.append(Change(switch, ['link', 'del', port]))
        changes.append(Change(switch, ['link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', netns]))
        port_link = None
    if port_link is None or port_link.get('master') != 'br0':
        changes.append(Change(switch, ['link', 'set', port, 'master', 'br0']))
    if port_link is None or not port_link['up']:
        changes.append(Change(switch, ['link', 'set', port, 'up']))
    return changes


def configure(netns, dev, address, existing):
    changes = []
    addresses = existing['addresses'] if existing else []
    for old in addresses:
        if old != address:
            changes.append(Change(netns, ['addr', 'del', old, 'dev', dev]))
    if address not in addresses:
        changes.append(Change(netns, ['addr', 'add', address, 'dev', dev]))
    if not existing or existing.get('alias') != lab_alias('underlay'):
        changes.append(Change(netns, ['link', 'set', dev, 'alias', lab_alias('underlay')]))
    if not existing or not existing['up']:
        changes.append(Change(netns, ['link', 'set', dev, 'up']))
    return changes


def stop_processes(module, iproute, netns):
    """Terminate what still runs inside a namespace we are about to delete (bounded wait)."""
    _rc, out, _err = iproute.run(['netns', 'pids', netns], check_rc=False)
    pids = [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + 5
    while pids and time.time() < deadline:
        pids = [p for p in pids if os.path.exists('/proc/%d' % p)]
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return pids


def run_module(module):
    params = module.params
    hosts, segments, routed = topology(params)
    pods = [check_netns(p, 'pods[%d]' % i) for i, p in enumerate(params['pods'])]
    iproute = IPRoute(module)
    names = [h['name'] for h in hosts] + [s['switch'] for s in segments] + ([ROUTER] if routed else [])
    if params['state'] == 'absent':
        existing = iproute.netns_names()
        doomed = [n for n in pods + names if n in existing]
        if not module.check_mode:
            for netns in doomed:
                stop_processes(module, iproute, netns)
        iproute.apply([Change(None, ['netns', 'del', n]) for n in doomed])
        result = {'changed': bool(doomed), 'namespaces': names, 'commands': iproute.done}
        if module._diff:
            result['diff'] = {'before': diff_text(doomed), 'after': ''}
        module.exit_json(**result)
    changes, before, after = plan_present(iproute, hosts, segments, routed)
    iproute.apply(changes)
    if routed and not module.check_mode:
        values = sysctl_access(module, ROUTER, ['net/ipv4/ip_forward'])
        if values['net/ipv4/ip_forward'] != '1':
            sysctl_access(module, ROUTER, [], {'net/ipv4/ip_forward': '1'})
            iproute.done.append('[%s] sysctl net.ipv4.ip_forward=1' % ROUTER)
    result = {'changed': bool(iproute.done), 'namespaces': names, 'commands': iproute.done}
    if module._diff:
        result['diff'] = {'before': diff_text(before), 'after': diff_text(after)}
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
                dev=dict(type='str', default='eth0'),
                gateway=dict(type='str'),
            )),
            pods=dict(type='list', elements='str', default=[]),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    try:
        run_module(module)
    except LabError as exc:
        module.fail_json(msg=str(exc))


if __name__ == '__main__':
    main()
