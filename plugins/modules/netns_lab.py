#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: netns_lab
short_description: Build or remove lab hosts that are network namespaces of this machine
version_added: 0.1.0
description:
  - The C(netns) provider of the lab. Each lab host becomes a named network namespace with C(lo)
    up and its underlay interface (C(eth0) by default) holding the host's address.
  - Hosts whose addresses share a subnet share one L2 segment, a Linux bridge C(br0) inside a
    switch namespace of its own, named C(<lab>-sw-<network>-<prefix>) (e.g. C(lab-sw-172-16-91-0-24)).
    A host's underlay is a veth pair created inside the switch namespace with its other end made
    straight inside the host namespace; its switch port is C(p-<host>) (C(p-) and a hash when that
    is longer than 15 characters).
  - When the hosts are in more than one subnet, or a host gives a gateway, one router namespace
    C(<lab>-router) has a leg on every segment (C(s-<network in hex>-<prefix>)) with the segment's
    gateway address and forwards.
  - Every host namespace and the router forward IPv4 (C(net.ipv4.ip_forward=1) inside them, checked
    and repaired on every run, all namespaces read and written by one process), as a Calico node
    must; the namespace the module runs in is not changed. Hosts with O(hosts[].address6) forward
    IPv6 too (C(net.ipv6.conf.all.forwarding=1)), and so does the router when a segment has IPv6.
  - IPv6 (dual stack) - a host's O(hosts[].address6) goes on its underlay with C(nodad), usable at once.
    The hosts of one segment share one IPv6 subnet; with a router, the router's leg takes the segment's
    IPv6 gateway too and every IPv6 host gets C(::/0 via <gateway6> dev eth0) (protocol 79).
  - Every host gets a default route toward its segment, C(default via <gateway> dev eth0) with a
    router, C(default dev eth0 scope link) without; proxy ARP for C(169.254.1.1) only answers when
    the host has a route out of another interface.
  - Nothing is created in, attached to or routed through the namespace the module runs in, and no
    real interface is touched; only the namespaces themselves are added there.
  - The kernel keeps one neighbour table per family (ARP, NDP) for all namespaces of the machine, its
    limits C(net.ipv4.neigh.default.gc_thresh1-3) (and C(net.ipv6...)) set in the root namespace only.
    A lab whose hosts would need more entries than C(gc_thresh2) (about hosts x (hosts - 1) per
    switch, as in a BGP full mesh) gets C(gc_thresh2) and C(gc_thresh3) raised (never lowered), with
    the values they had saved in C(/run/labnet-calico-neigh-limits.json); O(state=absent) puts them
    back once no host of any lab that needed them is left, each only if it still holds what was set. Without this a
    100-host mesh loses half its sessions to C(neighbor table overflow).
  - What the module makes is tagged, so that it changes and removes only that. The C(lo) of every
    namespace it makes carries the interface alias C(labnet.calico:netns_lab:<lab>:host) (or
    C(switch), C(router)); its links carry C(labnet.calico:netns_lab:<lab>:...); the default routes
    use protocol 79 (77 and 78 are the datapath roles' own, which they purge). A namespace of a
    wanted name that exists already is used only when it carries this tag or holds nothing but
    C(lo), the kernel's fallback devices and links tagged C(labnet.calico); anything else stops the
    module before any change.
  - O(state=absent) removes the host namespaces given, their switch namespaces, the router and the
    pod namespaces named in O(pods); nothing is found by a pattern. A switch or router that still
    serves hosts or segments not given is kept (with a warning).
  - Processes still running inside a namespace to remove (a BIRD daemon, an iperf3 server) would
    keep the namespace and its links alive after C(ip netns del). They are found with
    C(ip netns pids NAME), terminated (SIGTERM, then SIGKILL after O(kill_timeout) seconds) and
    reported in RV(processes); with O(kill_processes=false) the module fails before any change.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  hosts:
    description:
      - The lab hosts, all of them in one call.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The host's name, also the name of its network namespace (the inventory hostname).
        type: str
        required: true
      address:
        description:
          - The host's underlay address with its prefix length, e.g. C(172.16.91.201/24).
          - Left out, with O(hosts[].address6), for an IPv6-only host. The hosts of a lab are IPv6-only all or
            none - such a lab gets no IPv4 address, route or forwarding setting anywhere, its segments are
            its IPv6 subnets (switch C(<lab>-sw-fd00-91---64), router leg C(s6-) and 12 hex digits).
        type: str
      dev:
        description:
          - Name of the underlay interface inside the host.
        type: str
        default: eth0
      gateway:
        description:
          - The segment's gateway, the router's address on it. Defaults to the first usable address of
            the subnet when there is a router. Giving it makes a router even for a single subnet.
            Hosts of one segment must agree.
        type: str
      address6:
        description:
          - The host's IPv6 underlay address, e.g. C(fd00:91::201/64) (a C(/64) without a prefix).
        type: str
      gateway6:
        description:
          - The segment's IPv6 gateway when there is a router; default the subnet's first address.
        type: str
  pods:
    description:
      - Names of the lab's pod namespaces. O(state=absent) removes them too (the netns provider keeps
        pods as ordinary namespaces of this machine). A pod namespace is removed only when it holds
        nothing but C(lo), veth ends, the kernel's fallback devices and links tagged C(labnet.calico).
      - With O(state=present) they are only counted, each pod holding one neighbour entry (its
        gateway), toward the limits of the machine's neighbour tables.
    type: list
    elements: str
    default: []
  lab:
    description:
      - Name of the lab; prefixes the switch and router namespaces and is part of every tag. Labs
        that must not share switches need different names.
    type: str
    default: lab
  state:
    description:
      - V(present) builds or repairs the lab; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  kill_processes:
    description:
      - Terminate the processes still running inside a namespace to remove. When V(false), such
        processes make the module fail before any change.
    type: bool
    default: true
  kill_timeout:
    description:
      - Seconds to wait after SIGTERM before sending SIGKILL.
    type: int
    default: 5
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs on the controller (C(connection=local)), as root; needs iproute2.
  - Runs C(ip) with argument lists and C(LC_ALL=C), one C(ip -batch) per namespace.
seealso:
  - plugin: labnet.calico.netns
    plugin_type: connection
  - module: labnet.calico.calico_veth
'''

EXAMPLES = r'''
- name: The seeds' lab, two hosts on one segment
  labnet.calico.netns_lab:
    hosts:
      - {name: host-a, address: 172.16.91.201/24}
      - {name: host-b, address: 172.16.91.202/24}

- name: Three hosts in two subnets, joined by lab-router (gateways 172.16.91.1 and 172.16.92.1)
  labnet.calico.netns_lab:
    hosts:
      - {name: host-a, address: 172.16.91.201/24}
      - {name: host-b, address: 172.16.91.202/24}
      - {name: host-c, address: 172.16.92.203/24}

- name: Remove the lab hosts, their pods and what joined them
  labnet.calico.netns_lab:
    state: absent
    hosts:
      - {name: host-a, address: 172.16.91.201/24}
      - {name: host-b, address: 172.16.91.202/24}
    pods: [netns01, netns02, netns03, netns04]
'''

RETURN = r'''
hosts:
  description: Each lab host as planned.
  returned: always
  type: list
  elements: dict
  sample:
    - name: host-a
      netns: host-a
      address: 172.16.91.201/24
      dev: eth0
      subnet: 172.16.91.0/24
      switch: lab-sw-172-16-91-0-24
      port: p-host-a
      gateway: null
      default_route: 0.0.0.0/0 dev eth0 scope link proto 79
      address6: fd00:91::201/64
      gateway6: null
      default_route_v6: null
segments:
  description: The L2 segments, one per subnet.
  returned: always
  type: list
  elements: dict
  sample:
    - subnet: 172.16.91.0/24
      switch: lab-sw-172-16-91-0-24
      gateway: null
      router_leg: null
      hosts: [host-a, host-b]
router:
  description: Name of the router namespace, or null when the lab has none.
  returned: always
  type: str
  sample: lab-router
namespaces:
  description: Every namespace of the lab (hosts, switches, router), as planned.
  returned: always
  type: list
  elements: str
  sample: [host-a, host-b, lab-sw-172-16-91-0-24]
removed:
  description: The namespaces removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [host-a, host-b, netns01, lab-sw-172-16-91-0-24]
processes:
  description: Processes terminated (or that would be, in check mode) because they ran in a namespace to remove.
  returned: always
  type: list
  elements: dict
  sample:
    - {netns: host-a, pid: 4242, command: bird}
commands:
  description: The commands run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ['ip netns add host-a', 'ip -n lab-sw-172-16-91-0-24 link add p-host-a type veth peer name eth0 netns host-a']
'''

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    Change, IPRoute, LabError, diff_text, is_lab_alias, lab_alias, route_argv, route_text, untagged_links,
)
from ansible_collections.labnet.calico.plugins.module_utils.inventory_check import router_name
from ansible_collections.labnet.calico.plugins.module_utils.netns_plan import (
    BRIDGE, UNDERLAY_ROUTE_PROTO, UPLINK, forward_keys, namespaces, plan_lab, tag,
)
from ansible_collections.labnet.calico.plugins.module_utils import neigh_limits
from ansible_collections.labnet.calico.plugins.module_utils.sysctl import sysctl_access_many

DEFAULT_DSTS = ('0.0.0.0/0', '::/0')


class LabState:
    """The namespaces that exist, and the links (and routes) of those of the lab."""

    def __init__(self, iproute, names, route_names=(), v6_names=()):
        self.netns = iproute.netns_names()
        self.links = dict((name, iproute.links(netns=name)) for name in set(names) if name in self.netns)
        self.routes = dict((name, iproute.routes(netns=name) + (iproute.routes(netns=name, family=6)
                                                                if name in v6_names else []))
                           for name in set(route_names) if name in self.netns)

    def exists(self, netns):
        return netns in self.netns

    def links_of(self, netns):
        return self.links.get(netns, {})


def check_owner(lab, netns, role, links):
    """True when the namespace carries this lab's tag for ``role``; False when it holds nothing that
    anyone could claim (it can be taken over); raises otherwise."""
    alias = (links.get('lo') or {}).get('alias') or ''
    if alias == tag(lab, role):
        return True
    if alias.startswith(lab_alias('netns_lab:')):
        raise LabError('network namespace %s is tagged %s: it is not the %s of lab %s; refusing to touch it'
                       % (netns, alias, role, lab))
    foreign = untagged_links(links.values())
    if foreign:
        raise LabError('network namespace %s exists and was not made by netns_lab (it holds %s); refusing to use '
                       'or remove it: rename the %s or remove the namespace yourself'
                       % (netns, ', '.join(foreign), role))
    return False


def check_pod_owner(netns, links):
    """A pod namespace holds only lo, fallback devices, lab-tagged links and veth ends (calico_veth's)."""
    foreign = [name for name in untagged_links(links.values()) if links[name].get('kind') != 'veth']
    if foreign:
        raise LabError('pod network namespace %s holds links the lab did not make (%s); refusing to remove it'
                       % (netns, ', '.join(foreign)))


def check_link(netns, link, kind):
    """A link of a wanted name inside one of the lab's namespaces: untagged or tagged by the lab."""
    if link is None:
        return None
    if (link['alias'] and not is_lab_alias(link['alias'])) or link.get('kind') != kind:
        raise LabError('[%s] %s exists and was not made by netns_lab (kind %s, alias %r); refusing to change it'
                       % (netns, link['name'], link.get('kind'), link['alias']))
    return link


def is_pair(one, other):
    """Two veth ends that name each other's ifindex as their peer."""
    return (one is not None and other is not None and one.get('peer_index') == other.get('index')
            and other.get('peer_index') == one.get('index'))


# ----------------------------------------------------------------------------------------------
# Diff mode: the same lines for what is and for what is wanted.

def link_line(netns, link):
    addresses = (link.get('addresses') or []) + (link.get('addresses6') or [])
    return '[%s] %s %s %s%s' % (netns, link['name'], ','.join(addresses) or '-',
                                'up' if link.get('up') else 'down',
                                ' master %s' % link['master'] if link.get('master') else '')


def describe_current(plan, state, extra=()):
    lines = []
    for netns, role in namespaces(plan) + list(extra):
        if not state.exists(netns):
            continue
        lines.append('netns %s (%s)' % (netns, role))
        for link in state.links_of(netns).values():
            if link['name'] == 'lo' or link['alias'].startswith(tag(plan['lab'], '')):
                lines.append(link_line(netns, link))
        for route in state.routes.get(netns, []):
            if route['dst'] in DEFAULT_DSTS and route['proto'] == UNDERLAY_ROUTE_PROTO:
                lines.append(route_text(route, netns))
    return lines


def describe_wanted(plan):
    lines = []
    for netns, role in namespaces(plan):
        lines.append('netns %s (%s)' % (netns, role))
        lines.append(link_line(netns, {'name': 'lo', 'up': True, 'addresses': ['127.0.0.1/8']}))
    for host in plan['hosts']:
        lines.append(link_line(host['netns'], {'name': host['dev'], 'up': True, 'addresses': host_addresses(host),
                                               'addresses6': [host['address6']] if host['address6'] else []}))
        if host['default_route']:
            lines.append(route_text(host['default_route'], host['netns']))
        if host['default_route_v6']:
            lines.append(route_text(host['default_route_v6'], host['netns']))
    for segment in plan['segments']:
        lines.append(link_line(segment['switch'], {'name': BRIDGE, 'up': True}))
        for host in plan['hosts']:
            if host['switch'] == segment['switch']:
                lines.append(link_line(segment['switch'], {'name': host['port'], 'up': True, 'master': BRIDGE}))
        if segment['router_leg']:
            lines.append(link_line(segment['switch'], {'name': UPLINK, 'up': True, 'master': BRIDGE}))
            lines.append(link_line(plan['router'], {'name': segment['router_leg'], 'up': True,
                                                    'addresses': leg_addresses(segment),
                                                    'addresses6': leg_addresses6(segment)}))
    return lines


def host_addresses(host):
    """The host's IPv4 underlay address, none on an IPv6-only host."""
    return [host['address']] if host['address'] else []


def leg_addresses(segment):
    """The router's IPv4 address on the segment, none on an IPv6-only one."""
    return ['%s/%d' % (segment['gateway'], segment['network'].prefixlen)] if segment['gateway'] else []


def leg_addresses6(segment):
    return ['%s/%d' % (segment['gateway_v6'], segment['network_v6'].prefixlen)] if segment['gateway_v6'] else []


# ----------------------------------------------------------------------------------------------
# state=present

class Builder:
    """The changes that make the plan true, from one read of the state, in the order they must run."""

    def __init__(self, plan, state):
        self.plan, self.state, self.lab = plan, state, plan['lab']
        self.add = []    # ip netns add (where the module runs)
        self.pre = {}    # per namespace: links to delete before anything is made
        self.main = {}   # per namespace: links to make and configure
        self.warnings = []

    def _main(self, netns):
        return self.main.setdefault(netns, [])

    def _pre(self, netns):
        return self.pre.setdefault(netns, [])

    def namespaces(self):
        for netns, role in namespaces(self.plan):
            if self.state.exists(netns):
                check_owner(self.lab, netns, role, self.state.links_of(netns))
            else:
                self.add.append(Change(None, ['netns', 'add', netns]))
            lo = self.state.links_of(netns).get('lo') or {'alias': '', 'up': False}
            if lo['alias'] != tag(self.lab, role):
                self._main(netns).append(Change(netns, ['link', 'set', 'dev', 'lo', 'alias', tag(self.lab, role)]))
            if not lo['up']:
                self._main(netns).append(Change(netns, ['link', 'set', 'dev', 'lo', 'up']))

    def pair(self, near_ns, near_name, far_ns, far_name):
        """A veth pair made inside near_ns with its peer made inside far_ns; returns both ends as they
        will be. A pair that is not whole is deleted and made again."""
        near = check_link(near_ns, self.state.links_of(near_ns).get(near_name), 'veth')
        far = check_link(far_ns, self.state.links_of(far_ns).get(far_name), 'veth')
        if is_pair(near, far):
            return near, far
        if near is not None:
            self._pre(near_ns).append(Change(near_ns, ['link', 'del', 'dev', near_name]))
        if far is not None:
            self._pre(far_ns).append(Change(far_ns, ['link', 'del', 'dev', far_name]))
        self._main(near_ns).append(Change(near_ns, ['link', 'add', near_name, 'type', 'veth', 'peer',
                                                    'name', far_name, 'netns', far_ns]))
        fresh = {'alias': '', 'up': False, 'addresses': [], 'master': None, 'fresh': True}
        return dict(fresh, name=near_name), dict(fresh, name=far_name)

    def configure(self, netns, link, what, master=None, addresses=None, addresses6=None):
        changes = self._main(netns)
        name = link['name']
        if addresses6 is not None:
            # nodad: the address is usable at once, as Calico's pods' are (no DAD wait on a lab's segment).
            current = link.get('addresses6') or []
            changes.extend(Change(netns, ['addr', 'del', a, 'dev', name]) for a in current if a not in addresses6)
            changes.extend(Change(netns, ['addr', 'add', a, 'dev', name, 'nodad']) for a in addresses6
                           if a not in current)
        if link['alias'] != tag(self.lab, what):
            changes.append(Change(netns, ['link', 'set', 'dev', name, 'alias', tag(self.lab, what)]))
        if master and link.get('master') != master:
            changes.append(Change(netns, ['link', 'set', 'dev', name, 'master', master]))
        if addresses is not None:
            current = link.get('addresses') or []
            changes.extend(Change(netns, ['addr', 'del', a, 'dev', name]) for a in current if a not in addresses)
            changes.extend(Change(netns, ['addr', 'add', a, 'dev', name]) for a in addresses if a not in current)
        if not link.get('up'):
            changes.append(Change(netns, ['link', 'set', 'dev', name, 'up']))

    def switches(self):
        for segment in self.plan['segments']:
            switch = segment['switch']
            links = self.state.links_of(switch)
            bridge = check_link(switch, links.get(BRIDGE), 'bridge')
            if bridge is None:
                self._main(switch).append(Change(switch, ['link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0']))
                bridge = {'name': BRIDGE, 'alias': '', 'up': False}
            self.configure(switch, bridge, 'bridge')
            for host in self.plan['hosts']:
                if host['switch'] == switch:
                    port, host['_dev'] = self.pair(switch, host['port'], host['netns'], host['dev'])
                    self.configure(switch, port, 'port:%s' % host['name'], master=BRIDGE)
            if segment['router_leg']:
                uplink, segment['_leg'] = self.pair(switch, UPLINK, self.plan['router'], segment['router_leg'])
                self.configure(switch, uplink, 'uplink', master=BRIDGE)
            elif check_link(switch, links.get(UPLINK), 'veth') is not None:
                self._pre(switch).append(Change(switch, ['link', 'del', 'dev', UPLINK]))

    def hosts(self):
        for host in self.plan['hosts']:
            netns, dev = host['netns'], host['_dev']
            self.configure(netns, dev, 'underlay', addresses=host_addresses(host),
                           addresses6=[host['address6']] if host['address6'] else [])
            if host['default_route']:
                self.default_route(netns, dev, host['default_route'])
            if host['default_route_v6']:
                self.default_route(netns, dev, host['default_route_v6'])

    def default_route(self, netns, dev, want):
        """The host's default route of WANT's family; one someone else made is kept, with a warning."""
        current = None
        if not dev.get('fresh'):
            for route in self.state.routes.get(netns, []):
                if route['dst'] == want['dst'] and route['metric'] == want['metric'] and route['type'] == 'unicast':
                    current = route
        same = current is not None and all(current.get(k) == want[k] for k in ('via', 'dev', 'scope', 'proto'))
        if current is not None and current['proto'] != UNDERLAY_ROUTE_PROTO:
            if not all(current.get(k) == want[k] for k in ('via', 'dev', 'scope')):
                self.warnings.append('%s keeps its default route %s, which netns_lab did not make'
                                     % (netns, route_text(current)))
        elif not same:
            self._main(netns).append(Change(netns, ['route', 'replace'] + route_argv(want)))

    def router(self):
        router = self.plan['router']
        if not router:
            return
        wanted = [segment['router_leg'] for segment in self.plan['segments']]
        for link in self.state.links_of(router).values():
            if link['name'] not in wanted and link['alias'].startswith(tag(self.lab, 'leg:')):
                self._pre(router).append(Change(router, ['link', 'del', 'dev', link['name']]))
        for segment in self.plan['segments']:
            self.configure(router, segment['_leg'], 'leg:%s' % segment['subnet'],
                           addresses=leg_addresses(segment),
                           addresses6=leg_addresses6(segment))

    def changes(self):
        self.namespaces()
        self.switches()
        self.hosts()
        self.router()
        # Namespaces first, then every deletion, then the switches (they make the veth pairs, the far
        # ends straight inside the hosts and the router), the hosts and the router.
        ordered = list(self.add)
        roles = namespaces(self.plan)
        for netns, _role in roles:
            ordered.extend(self.pre.get(netns, []))
        for wanted_role in ('switch', 'host', 'router'):
            for netns, role in roles:
                if role == wanted_role:
                    ordered.extend(self.main.get(netns, []))
        return ordered


# ----------------------------------------------------------------------------------------------
# Processes inside namespaces to remove.

def process_command(pid):
    try:
        with open('/proc/%d/comm' % pid) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def find_processes(iproute, names):
    found = []
    for netns in names:
        for pid in iproute.netns_pids(netns):
            if pid != os.getpid():
                found.append({'netns': netns, 'pid': pid, 'command': process_command(pid)})
    return found


def processes_left_message(processes):
    """What still runs in namespaces to remove, with kill_processes off, and the two ways on."""
    return ('processes still run inside namespaces to remove: %s; kill_processes is false (the netns_hosts '
            'role sets it from netns_hosts_kill_processes), so nothing was removed. Stop them (kill %s), or let '
            'the lab end them: run again with -e netns_hosts_kill_processes=true'
            % (', '.join('%s in %s (pid %d)' % (p['command'], p['netns'], p['pid']) for p in processes),
               ' '.join(str(p['pid']) for p in processes)))


def terminate(iproute, names, processes, timeout):
    """SIGTERM; wait up to ``timeout`` seconds for the namespaces to empty; SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        for process in processes:
            try:
                os.kill(process['pid'], sig)
            except OSError:
                pass
        deadline = time.time() + wait
        while True:
            processes = find_processes(iproute, names)
            if not processes or time.time() >= deadline:
                break
            time.sleep(0.1)
        if not processes:
            return []
    return processes


# ----------------------------------------------------------------------------------------------

def plan_absent(plan, state, stale_router):
    """The namespaces to delete (hosts, pods, switches, router) and warnings about what is kept."""
    lab, remove, warnings = plan['lab'], [], []
    hosts = [host['netns'] for host in plan['hosts']]
    subnets = [segment['subnet'] for segment in plan['segments']]
    for netns, role in namespaces(plan) + stale_router:
        if not state.exists(netns):
            continue
        check_owner(lab, netns, role, state.links_of(netns))
        # Ports (switch) or legs (router) of hosts and segments this call does not remove.
        marker = {'switch': tag(lab, 'port:'), 'router': tag(lab, 'leg:')}.get(role)
        if marker:
            served = [link['alias'][len(marker):] for link in state.links_of(netns).values()
                      if link['alias'].startswith(marker)]
            others = sorted(set(served) - set(hosts if role == 'switch' else subnets))
            if others:
                warnings.append('%s %s is kept: it still serves %s' % (role, netns, ', '.join(others)))
                continue
        remove.append(netns)
    pods = []
    for pod in plan['pods']:
        if state.exists(pod):
            check_pod_owner(pod, state.links_of(pod))
            pods.append(pod)
    # Hosts first (their veth pairs go with them), then the pods, the switches and the router.
    hosts_removed = [name for name in remove if name in hosts]
    return hosts_removed + pods + [name for name in remove if name not in hosts], warnings


def host_result(host):
    result = dict((key, host[key]) for key in ('name', 'netns', 'address', 'dev', 'subnet', 'switch', 'port',
                                               'gateway', 'address6', 'gateway6'))
    result['default_route'] = ' '.join(route_argv(host['default_route'])) if host['default_route'] else None
    result['default_route_v6'] = ' '.join(route_argv(host['default_route_v6'])) if host['default_route_v6'] else None
    return result


def run_module(module):
    params = module.params
    plan = plan_lab(params['hosts'], params['lab'], params['pods'])
    iproute = IPRoute(module)
    lab = plan['lab']
    # A router that the plan does not need (any more) is still looked at: it goes away.
    stale_router = [] if plan['router'] else [(router_name(lab), 'router')]
    names = [name for name, _role in namespaces(plan) + stale_router]
    hosts = [host['netns'] for host in plan['hosts']]
    extra_commands, forwarders = [], []

    if params['state'] == 'present':
        state = LabState(iproute, names, route_names=hosts,
                         v6_names=[host['netns'] for host in plan['hosts'] if host['address6']])
        builder = Builder(plan, state)
        changes = builder.changes()
        warnings = builder.warnings
        remove = []
        if stale_router and state.exists(stale_router[0][0]):
            if check_owner(lab, stale_router[0][0], 'router', state.links_of(stale_router[0][0])):
                remove.append(stale_router[0][0])
        changes.extend(Change(None, ['netns', 'del', name]) for name in remove)
        # Hosts route between their pods and the underlay, the router between segments.
        wanted = forward_keys(plan)
        existing = sysctl_access_many(module, dict((ns, (keys, None)) for ns, keys in wanted.items()
                                                   if state.exists(ns)))
        forwarders = dict((ns, [k for k in keys if existing.get(ns, {}).get(k) != '1']) for ns, keys in wanted.items())
        forwarders = dict((ns, keys) for ns, keys in forwarders.items() if keys)
        extra_commands.extend('ip netns exec %s sysctl -w %s=1' % (ns, key.replace('/', '.'))
                              for ns in sorted(forwarders) for key in forwarders[ns])
        before = describe_current(plan, state, stale_router)
        after = describe_wanted(plan)
    else:
        state = LabState(iproute, names + plan['pods'])
        remove, warnings = plan_absent(plan, state, stale_router)
        changes = [Change(None, ['netns', 'del', name]) for name in remove]
        before = describe_current(plan, state, stale_router)
        after = [line for line in before
                 if not any(line.startswith('netns %s ' % name) or line.startswith('[%s] ' % name) for name in remove)]

    processes = find_processes(iproute, remove)
    if processes and not params['kill_processes']:
        raise LabError(processes_left_message(processes))
    if processes and not module.check_mode:
        left = terminate(iproute, remove, processes, params['kill_timeout'])
        if left:
            raise LabError('processes would not end: %s' % ', '.join(str(p['pid']) for p in left))

    iproute.apply(changes)
    if forwarders and not module.check_mode:
        sysctl_access_many(module, dict((ns, ([], dict.fromkeys(keys, '1'))) for ns, keys in forwarders.items()))
    # The machine's neighbour tables hold the entries of every lab host (see neigh_limits).
    if params['state'] == 'present':
        extra_commands.extend(neigh_limits.raise_for(module, plan))
    else:
        extra_commands.extend(neigh_limits.restore_after(module, remove))

    result = {
        'changed': bool(changes or extra_commands),
        'commands': iproute.done + extra_commands,
        'hosts': [host_result(host) for host in plan['hosts']],
        'segments': [dict((key, segment[key]) for key in ('subnet', 'switch', 'gateway', 'router_leg', 'hosts'))
                     for segment in plan['segments']],
        'router': plan['router'],
        'namespaces': [name for name, _role in namespaces(plan)],
        'removed': remove,
        'processes': processes,
    }
    for warning in warnings:
        module.warn(warning)
    if module._diff:
        result['diff'] = {'before': diff_text(before), 'after': diff_text(after)}
    module.exit_json(**result)


def main():
    host_spec = dict(
        name=dict(type='str', required=True),
        address=dict(type='str'),
        dev=dict(type='str', default='eth0'),
        gateway=dict(type='str'),
        address6=dict(type='str'),
        gateway6=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='list', elements='dict', options=host_spec, required=True),
            pods=dict(type='list', elements='str', default=[]),
            lab=dict(type='str', default='lab'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            kill_processes=dict(type='bool', default=True),
            kill_timeout=dict(type='int', default=5),
        ),
        supports_check_mode=True,
    )
    if os.geteuid() != 0:
        module.fail_json(msg='netns_lab makes network namespaces: run it as root on the controller')
    try:
        run_module(module)
    except LabError as exc:
        module.fail_json(msg=str(exc))


if __name__ == '__main__':
    main()
