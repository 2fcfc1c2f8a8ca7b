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
    exit_with_changes, run_guarded, IPRoute, LabError, check_netns,
)
from ansible_collections.labnet.calico.plugins.module_utils.routes import (
    LAB_ROUTE_PROTO, route_protocol_number, route_table_number,
)
from ansible_collections.labnet.calico.plugins.module_utils.route_plan import plan_routes, wanted_routes


def run_module(module):
    params = module.params
    wanted = wanted_routes(params)
    purge_proto = route_protocol_number(params['purge_proto'], 'purge_proto')
    purge_netns = [check_netns(ns, 'purge_netns') for ns in params['purge_netns']]
    iproute = IPRoute(module)

    current = {}  # (netns, table, family) -> routes, read once each

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

    table = route_table_number(params['table'], 'table')
    changes, before, after, managed, purged = plan_routes(
        wanted, routes_of, purge_proto if params['purge'] else None, [(ns, table) for ns in purge_netns])
    iproute.apply(changes)
    exit_with_changes(module, iproute, before, after, routes=managed, purged=purged)


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
