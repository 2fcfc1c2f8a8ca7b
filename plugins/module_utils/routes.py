# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routes' vocabulary: protocol, scope, table and type numbers, and one route of ``ip -N -j [-6] route``
normalised so that wanted and current routes compare as equals (iproute.py reads and writes them)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.errors import LabError
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import network_text

# Routes the lab makes carry this protocol number: cleanup and purge touch nothing else.
LAB_ROUTE_PROTO = 77
ROUTE_PROTOCOLS = {
    'redirect': 1, 'kernel': 2, 'boot': 3, 'static': 4, 'ra': 9, 'zebra': 11, 'bird': 12,
    'dhcp': 16, 'babel': 42, 'bgp': 186, 'isis': 187, 'ospf': 188, 'rip': 189, 'eigrp': 192,
    'lab': LAB_ROUTE_PROTO,
}
ROUTE_SCOPES = {'global': 0, 'universe': 0, 'site': 200, 'link': 253, 'host': 254, 'nowhere': 255}
ROUTE_SCOPE_NAMES = {0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere'}
ROUTE_TABLES = {'default': 253, 'main': 254, 'local': 255}
ROUTE_TYPES = {1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast',
               6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat', 11: 'xresolve'}
MANAGED_ROUTE_TYPES = ('unicast', 'blackhole', 'unreachable', 'prohibit')


def route_protocol_number(value, field):
    if isinstance(value, int) or str(value).isdigit():
        number = int(value)
    elif str(value) in ROUTE_PROTOCOLS:
        number = ROUTE_PROTOCOLS[str(value)]
    else:
        raise LabError('%s: unknown route protocol %r (use a number 0-255 or one of %s)'
                       % (field, value, ', '.join(sorted(ROUTE_PROTOCOLS))))
    if not 0 <= number <= 255:
        raise LabError('%s: route protocol %d is outside 0-255' % (field, number))
    return number


def route_scope_number(value, field):
    if value is None:
        return None
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    if str(value) in ROUTE_SCOPES:
        return ROUTE_SCOPES[str(value)]
    raise LabError('%s: unknown route scope %r (use one of %s)'
                   % (field, value, ', '.join(sorted(ROUTE_SCOPES))))


def route_table_number(value, field):
    if value is None:
        return ROUTE_TABLES['main']
    if isinstance(value, int) or str(value).isdigit():
        number = int(value)
        if 1 <= number <= 0xffffffff:
            return number
    elif str(value) in ROUTE_TABLES:
        return ROUTE_TABLES[str(value)]
    raise LabError('%s: %r is not a routing table (a number or main, local, default)' % (field, value))


def normalize_route(raw, table=None, family=4):
    """One route of ``ip -N -j [-6] route show`` (numeric protocol, scope and type).

    IPv6 routes have no scope (the kernel keeps none) and a blackhole shows ``dev lo``: both are left out
    so that wanted and current routes compare equal.
    """
    route_type = raw.get('type', 'unicast')
    if str(route_type).isdigit():
        route_type = ROUTE_TYPES.get(int(route_type), str(route_type))
    table_value = raw.get('table', table if table is not None else ROUTE_TABLES['main'])
    return {
        'table': route_table_number(table_value, 'table'),
        'type': route_type,
        'dst': network_text(raw.get('dst', 'default'), family),
        'via': raw.get('gateway'),
        'dev': raw.get('dev') if route_type == 'unicast' or family == 4 else None,
        'scope': None if family == 6 else int(raw.get('scope', 0)) if str(raw.get('scope', 0)).isdigit() else
        ROUTE_SCOPES.get(raw.get('scope'), raw.get('scope')),
        # ip leaves out "proto boot" (3), the kernel's default for routes added without a protocol.
        'proto': int(raw.get('protocol', 3)) if str(raw.get('protocol', 3)).isdigit() else
        ROUTE_PROTOCOLS.get(raw.get('protocol'), raw.get('protocol')),
        'metric': int(raw.get('metric', 0)),
        'onlink': 'onlink' in (raw.get('flags') or []),
        # Route metrics (RTAX_*) as ``ip -j`` prints them: a list of one-key dicts.
        'mtu': next((m['mtu'] for m in raw.get('metrics') or [] if isinstance(m, dict) and 'mtu' in m), None),
    }
