# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning routes: route items validated into normalised routes, and the changes that make a set of
namespaces' routes as wanted (replace, drop other metrics of ours, purge ours that nobody wants).
Shared by calico_route and calico_veth's pod_routes; iproute.py reads and writes them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.errors import LabError
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    Change, check_ifname, check_mtu, check_netns, parse_ip_address, parse_ip_network, route_argv, route_text,
)
from ansible_collections.labnet.calico.plugins.module_utils.routes import (
    MANAGED_ROUTE_TYPES, route_protocol_number, route_scope_number, route_table_number,
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


def plan_routes(wanted, routes_of, purge_proto=None, purge_spaces=()):
    """Changes that make the routes as WANTED ([(netns, state, route)] of wanted_routes) says.

    ROUTES_OF(netns, table, family) returns a namespace's current routes (read once by the caller). With
    PURGE_PROTO, routes of that protocol in the wanted routes' (netns, table) and in PURGE_SPACES that no
    wanted route keeps are deleted. Returns (changes, before, after, managed, purged); deletions come
    first, so a replaced metric never leaves two routes competing."""
    changes, before, after, kept = [], [], [], set()
    managed = []
    for netns, state, route in wanted:
        existing = [r for r in routes_of(netns, route['table'], family_of(route['dst'])) if r['dst'] == route['dst']
                    and r['type'] in MANAGED_ROUTE_TYPES]
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
    if purge_proto is not None:
        spaces = set((netns, route['table']) for netns, _state, route in wanted)
        spaces.update(purge_spaces)
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

    changes.sort(key=lambda c: (c.netns or '', 0 if c.args[1] == 'del' else 1))
    return changes, sorted(set(before)), after, managed, purged
