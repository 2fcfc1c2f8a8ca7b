#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_route
short_description: Manage IPv4 and IPv6 routes on a host or inside network namespaces, the way Calico programs them
version_added: 0.1.0
description:
  - Adds, replaces or removes IPv4 and IPv6 routes with C(ip route), on the host the module runs on or inside
    named network namespaces (a pod's C(169.254.1.1 dev eth0 scope link) and C(default via 169.254.1.1), or
    its IPv6 C(::/0 via fe80::ecee:eeff:feee:eeee dev eth0)).
  - A route's family is its destination's (and its gateway's, which must agree); V(default) is IPv4's,
    V(::/0) IPv6's. Both families are handled in one call.
  - Replace semantics, as C(ip route replace) - a route to the same destination with other attributes
    is changed, never duplicated. A route to the same destination with another metric is removed when
    it carries the same protocol tag.
  - Routes the lab makes carry the protocol number 77 unless O(routes[].proto) says otherwise; with
    O(purge=true) the routes of that protocol that are not listed are removed, and no other route is
    ever touched.
  - One call manages all routes of a host with O(routes); state is read once per namespace and table,
    and changes are applied with one C(ip -batch) per namespace.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  dest:
    description:
      - Destination, e.g. V(10.10.1.0/24), V(10.10.0.2) (a C(/32)), V(default), V(fd00:10:244::/122) or
        V(::/0). Required unless O(routes) is given.
    type: str
  via:
    description: Gateway address, of the destination's family; an IPv6 link-local one needs O(dev).
    type: str
  dev:
    description: Output interface.
    type: str
  scope:
    description: Route scope (V(link), V(global), V(host) or a number); left to the kernel when not given.
    type: str
  onlink:
    description:
      - Accept a gateway that is not on the interface's subnet. IP-in-IP routes through C(tunl0) need it
        (without it the kernel answers C(Network is unreachable)).
    type: bool
    default: false
  proto:
    description: Route protocol, a number or a name such as V(bird) or V(static). It is the lab's ownership tag.
    type: str
    default: '77'
  metric:
    description: Route metric (priority).
    type: int
    default: 0
  mtu:
    description:
      - Route MTU (the C(mtu) route metric). A route without it has none; a route whose MTU differs is
        replaced. Felix puts the tunnel's MTU on its routes to other hosts' blocks.
    type: int
  type:
    description: Route type.
    type: str
    choices: [unicast, blackhole, unreachable, prohibit]
    default: unicast
  table:
    description: Routing table, a number or V(main).
    type: str
    default: main
  netns:
    description: Network namespace to manage routes in (default where the module runs).
    type: str
  state:
    description:
      - V(present) adds or replaces the route; V(absent) removes the routes to O(dest) that carry O(proto),
        whatever their metric.
    type: str
    choices: [present, absent]
    default: present
  routes:
    description:
      - Many routes in one call. Each item takes the per-route options above; O(routes[].dest) is
        required. O(netns), O(table), O(proto) and O(state) at the top level are defaults for every item.
    type: list
    elements: dict
    suboptions:
      dest:
        description: Destination.
        type: str
        required: true
      via:
        description: Gateway.
        type: str
      dev:
        description: Output interface.
        type: str
      scope:
        description: Route scope.
        type: str
      onlink:
        description: Gateway need not be on the interface's subnet.
        type: bool
      proto:
        description: Route protocol.
        type: str
      metric:
        description: Route metric.
        type: int
      mtu:
        description: Route MTU (C(mtu) metric); none when not given.
        type: int
      type:
        description: Route type.
        type: str
        choices: [unicast, blackhole, unreachable, prohibit]
      table:
        description: Routing table.
        type: str
      netns:
        description: Network namespace.
        type: str
      state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
  purge:
    description:
      - Remove routes that carry the lab's protocol tag (O(purge_proto)) in the namespaces and tables this
        call manages but that are not listed as present, of both families. Routes of any other protocol are
        never removed.
    type: bool
    default: false
  purge_proto:
    description: The protocol whose unlisted routes O(purge=true) removes.
    type: str
    default: '77'
  purge_netns:
    description:
      - Namespaces to purge in besides those named by the listed routes; use C(null) in the list for the
        namespace the module runs in.
    type: list
    elements: raw
    default: []
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs C(ip) with argument lists and C(LC_ALL=C); needs root (CAP_NET_ADMIN).
  - IPv6 routes keep no scope (O(routes[].scope) is ignored for them), and metric 0 is stored by the kernel
    as 1024 (IPv6's default), which is what the module compares with.
seealso:
  - module: labnet.calico.calico_veth
  - module: labnet.calico.calico_tunnel
'''

EXAMPLES = r'''
- name: Host route to a pod and the pod's gateway routes
  labnet.calico.calico_route:
    routes:
      - {dest: 10.10.0.2/32, dev: cali5d9d6d0b1e8, scope: link}
      - {dest: 169.254.1.1, dev: eth0, scope: link, netns: netns01}
      - {dest: default, via: 169.254.1.1, dev: eth0, netns: netns01}
      - {dest: 'fd00:10:244::2/128', dev: cali5d9d6d0b1e8}
      - {dest: '::/0', via: 'fe80::ecee:eeff:feee:eeee', dev: eth0, netns: netns01}

- name: BGP mode - the peer's block via its node address, our own block blackholed
  labnet.calico.calico_route:
    purge: true
    routes:
      - {dest: 10.10.1.0/24, via: 172.16.91.202, dev: eth0}
      - {dest: 10.10.0.0/24, type: blackhole}

- name: IPIP mode - the same block through tunl0
  labnet.calico.calico_route:
    dest: 10.10.1.0/24
    via: 172.16.91.202
    dev: tunl0
    onlink: true
'''

RETURN = r'''
routes:
  description: Every managed route after the run (what it would be in check mode), as C(ip route) prints it.
  returned: always
  type: list
  elements: str
  sample: ['10.10.1.0/24 via 172.16.91.202 dev eth0 proto 77']
purged:
  description: Routes removed by O(purge).
  returned: always
  type: list
  elements: str
commands:
  description: The C(ip) commands run, or that would run in check mode.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    exit_with_changes, run_guarded,
    Change, IPRoute, LabError, check_ifname, check_mtu, check_netns, parse_ip_address, parse_ip_network,
    route_argv, route_text,
)
from ansible_collections.labnet.calico.plugins.module_utils.routes import (
    LAB_ROUTE_PROTO, route_protocol_number, route_scope_number, route_table_number,
)
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import (
    FAMILIES, KERNEL_DEFAULT_METRIC, family_of, is_link_local,
)

ROUTE_OPTIONS = ('dest', 'via', 'dev', 'scope', 'onlink', 'proto', 'metric', 'mtu', 'type', 'table', 'netns',
                 'state')
# Options that, at the top level, are defaults for every item of ``routes``.
SHARED_OPTIONS = ('proto', 'table', 'netns', 'state')


def wanted_routes(params):
    """Validate every route before anything changes. Returns [(netns, state, route dict)]."""
    if params['routes'] is None:
        if not params['dest']:
            raise LabError('dest: required unless routes is given')
        items, fields = [dict((key, params[key]) for key in ROUTE_OPTIONS)], ['']
    else:
        items, fields = [], []
        for index, item in enumerate(params['routes']):
            merged = dict((key, None) for key in ROUTE_OPTIONS)
            merged.update((key, params[key]) for key in SHARED_OPTIONS)
            merged.update({'onlink': False, 'metric': 0, 'type': 'unicast'})
            merged.update(dict((k, v) for k, v in item.items() if v is not None))
            items.append(merged)
            fields.append('routes[%d].' % index)

    wanted, seen = [], {}
    for item, field in zip(items, fields):
        route_type = item['type'] or 'unicast'
        dst = parse_ip_network(item['dest'], field + 'dest')
        via = parse_ip_address(item['via'], field + 'via') if item['via'] else None
        if via is not None and via.version != dst.version:
            raise LabError('%svia: %s is IPv%d but dest %s is IPv%d' % (field, via, via.version, dst, dst.version))
        scope = route_scope_number(item['scope'], field + 'scope')
        route = {
            'table': route_table_number(item['table'], field + 'table'),
            'type': route_type,
            'dst': str(dst),
            'via': str(via) if via is not None else None,
            'dev': check_ifname(item['dev'], field + 'dev') if item['dev'] else None,
            # IPv6 routes have no scope: the kernel keeps none, so a wanted one could never match.
            'scope': None if dst.version == 6 else scope,
            'proto': route_protocol_number(item['proto'], field + 'proto'),
            # Metric 0 on IPv6 is what the kernel stores as 1024: want what it will show.
            'metric': int(item['metric'] or 0) or KERNEL_DEFAULT_METRIC[dst.version],
            'onlink': bool(item['onlink']),
            'mtu': check_mtu(item['mtu'], field + 'mtu'),
        }
        netns = check_netns(item['netns'], field + 'netns')
        state = item['state'] or 'present'
        if route_type != 'unicast' and (route['via'] or route['dev'] or route['onlink']):
            raise LabError('%stype: a %s route takes no via, dev or onlink' % (field, route_type))
        if route_type == 'unicast' and state == 'present' and not (route['via'] or route['dev']):
            raise LabError('%sdest: route to %s needs via or dev' % (field, route['dst']))
        if route['onlink'] and not route['via']:
            raise LabError('%sonlink: onlink needs a gateway (via)' % field)
        if route['via'] and is_link_local(route['via']) and not route['dev']:
            raise LabError('%sdev: the link-local gateway %s needs a dev' % (field, route['via']))
        if route['metric'] < 0:
            raise LabError('%smetric: must not be negative' % field)
        key = (netns, route['table'], route['dst'], route['metric'])
        if key in seen:
            raise LabError('%sdest: %s is listed twice (also %sdest)' % (field, route['dst'], seen[key]))
        seen[key] = field
        wanted.append((netns, state, route))
    return wanted


def same_route(wanted, current):
    """Equal as far as the wanted route says: scope and dev are compared only when given."""
    for key in ('type', 'dst', 'via', 'proto', 'metric', 'onlink', 'mtu'):
        if wanted[key] != current[key]:
            return False
    if wanted['dev'] is not None and wanted['dev'] != current['dev']:
        return False
    if wanted['scope'] is not None and wanted['scope'] != current['scope']:
        return False
    return True


def run_module(module):
    params = module.params
    wanted = wanted_routes(params)
    purge_proto = route_protocol_number(params['purge_proto'], 'purge_proto')
    purge_netns = [check_netns(ns, 'purge_netns') for ns in params['purge_netns']]
    iproute = IPRoute(module)

    current = {}  # (netns, table) -> routes, read once each

    namespaces = iproute.netns_names() if any(ns for ns, _s, _r in wanted) or purge_netns else set()

    def routes_of(netns, table, family):
        if (netns, table, family) not in current:
            if netns is not None and netns not in namespaces:
                # In check mode an earlier task (calico_veth) would have made it: it has no routes yet.
                if not module.check_mode:
                    raise LabError('netns: network namespace %s does not exist' % netns)
                current[(netns, table, family)] = []
            else:
                current[(netns, table, family)] = iproute.routes(netns=netns, table=table, family=family)
        return current[(netns, table, family)]

    changes, before, after, kept = [], [], [], set()
    managed = []
    for netns, state, route in wanted:
        existing = [r for r in routes_of(netns, route['table'], family_of(route['dst'])) if r['dst'] == route['dst']
                    and r['type'] in ('unicast', 'blackhole', 'unreachable', 'prohibit')]
        if state == 'absent':
            for old in existing:
                if old['proto'] == route['proto']:  # every metric: absent means no route there of ours
                    changes.append(Change(netns, ['route', 'del'] + route_argv(old)))
                    before.append(route_text(old, netns))
            continue
        kept.add((netns, route['table'], route['dst'], route['metric']))
        managed.append(route_text(route, netns))
        after.append(route_text(route, netns))
        same_metric = [r for r in existing if r['metric'] == route['metric']]
        if not (same_metric and same_route(route, same_metric[0])):
            if same_metric and route.get('onlink') and same_metric[0].get('dev') != route.get('dev') \
                    and family_of(route['dst']) == 6:
                # The kernel checks an IPv6 onlink gateway against the table (ip6_route_check_nh_onlink): the
                # old route through another device covers it (a BGP->VXLAN switch), so it goes first.
                changes.append(Change(netns, ['route', 'del'] + route_argv(same_metric[0])))
            changes.append(Change(netns, ['route', 'replace'] + route_argv(route)))
        before.extend(route_text(r, netns) for r in same_metric)
        for old in existing:
            # Another metric for the same destination: drop it only when it is ours to drop.
            if old['metric'] != route['metric'] and old['proto'] == route['proto']:
                changes.append(Change(netns, ['route', 'del'] + route_argv(old)))
                before.append(route_text(old, netns))

    purged = []
    if params['purge']:
        spaces = set((netns, route['table']) for netns, _state, route in wanted)
        spaces.update((ns, route_table_number(params['table'], 'table')) for ns in purge_netns)
        # Both families everywhere: a pod that lost its IPv6 address must lose its IPv6 routes too.
        for netns, table, family in sorted(((ns, t, f) for ns, t in spaces for f in FAMILIES),
                                           key=lambda s: (s[0] or '', s[1], s[2])):
            for old in routes_of(netns, table, family):
                if old['proto'] != purge_proto:
                    continue
                if (netns, table, old['dst'], old['metric']) in kept:
                    continue
                if any(c.args[:2] == ['route', 'del'] and c.netns == netns and c.args[2:] == route_argv(old)
                       for c in changes):
                    continue
                changes.append(Change(netns, ['route', 'del'] + route_argv(old)))
                purged.append(route_text(old, netns))
                before.append(route_text(old, netns))

    # Deletions first, so a replaced metric never leaves two routes competing, then additions.
    changes.sort(key=lambda c: (c.netns or '', 0 if c.args[1] == 'del' else 1))
    iproute.apply(changes)
    exit_with_changes(module, iproute, set(before), after, routes=managed, purged=purged)


def main():
    item_spec = dict(
        dest=dict(type='str', required=True),
        via=dict(type='str'),
        dev=dict(type='str'),
        scope=dict(type='str'),
        onlink=dict(type='bool'),
        proto=dict(type='str'),
        metric=dict(type='int'),
        mtu=dict(type='int'),
        type=dict(type='str', choices=['unicast', 'blackhole', 'unreachable', 'prohibit']),
        table=dict(type='str'),
        netns=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent']),
    )
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='str'),
            via=dict(type='str'),
            dev=dict(type='str'),
            scope=dict(type='str'),
            onlink=dict(type='bool', default=False),
            proto=dict(type='str', default=str(LAB_ROUTE_PROTO)),
            metric=dict(type='int', default=0),
            mtu=dict(type='int'),
            type=dict(type='str', choices=['unicast', 'blackhole', 'unreachable', 'prohibit'], default='unicast'),
            table=dict(type='str', default='main'),
            netns=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            routes=dict(type='list', elements='dict', options=item_spec),
            purge=dict(type='bool', default=False),
            purge_proto=dict(type='str', default=str(LAB_ROUTE_PROTO)),
            purge_netns=dict(type='list', elements='raw', default=[]),
        ),
        mutually_exclusive=[('dest', 'routes')],
        required_one_of=[('dest', 'routes')],
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
