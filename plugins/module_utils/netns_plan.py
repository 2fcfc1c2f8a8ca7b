# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netns provider's plan: from the lab hosts given to the namespaces, segments, switch ports,
router legs and default routes wanted, with every name deterministic (so that every run finds what
the first one made). No system access; used by the netns_lab module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_ifname, check_netns, lab_alias, parse_ipv4_address, parse_ipv4_interface, parse_ipv6_address,
    parse_ipv6_interface,
)
# The switch and router names are also what the inventory check keeps pods and hosts away from.
from ansible_collections.labnet.calico.plugins.module_utils.inventory_check import router_name, switch_name

# The lab hosts' default routes. Not 77 or 78: the datapath roles purge those in the lab hosts.
UNDERLAY_ROUTE_PROTO = 79
_LAB_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$')
BRIDGE = 'br0'
UPLINK = 'uplink'
MAIN_TABLE = 254
SCOPE_LINK = 253
# IPv4 forwarding in every host and the router; IPv6 forwarding where the namespace has IPv6 (issue 13).
FORWARD_KEY = 'net/ipv4/ip_forward'
FORWARD_KEY_V6 = 'net/ipv6/conf/all/forwarding'


# ----------------------------------------------------------------------------------------------
# Names and tags: deterministic, so that every run finds what the first one made.

def tag(lab, what):
    """The alias of what this module makes: ``labnet.calico:netns_lab:<lab>:<what>``."""
    return lab_alias('netns_lab:%s:%s' % (lab, what))


def port_name(host):
    """The host's port on its switch: ``p-<host>``, or ``p-`` and 13 hex digits of a SHA-1 when longer."""
    name = 'p-' + host
    if len(name) <= 15:
        return name
    return 'p-' + hashlib.sha1(host.encode('utf-8')).hexdigest()[:13]


def leg_name(network):
    """The router's leg on a segment: ``s-<network address in hex>-<prefix>`` (at most 13 characters); on an
    IPv6-only segment ``s6-`` and 12 hex digits of a SHA-1 of the subnet (128 bits do not fit in 15 characters)."""
    if network.version == 6:
        return 's6-' + hashlib.sha1(str(network).encode('ascii')).hexdigest()[:12]
    return 's-%08x-%d' % (int(network.network_address), network.prefixlen)


def first_usable(network):
    if network.prefixlen >= 31:
        return network.network_address
    return network.network_address + 1


# ----------------------------------------------------------------------------------------------
# Planning: from the hosts given to the namespaces, links and routes wanted. No system access.

def plan_lab(hosts, lab='lab', pods=()):
    """Validate everything and return the lab's plan; raises LabError naming the field at fault."""
    if not isinstance(lab, str) or not _LAB_RE.match(lab):
        raise LabError('lab: %r must be 1-32 letters, digits, "_", "." or "-", starting with a letter or digit'
                       % (lab,))
    if not hosts:
        raise LabError('hosts: at least one lab host is required')

    planned, by_name, by_address = [], {}, {}
    for index, item in enumerate(hosts):
        field = 'hosts[%d].' % index
        name = check_netns(item.get('name'), field + 'name')
        if name is None:
            raise LabError('%sname: required' % field)
        if name in by_name:
            raise LabError('%sname: %s is also %sname' % (field, name, by_name[name]))
        address = _host_v4(item, field)
        dev = check_ifname(item.get('dev') or 'eth0', field + 'dev')
        if dev == 'lo':
            raise LabError('%sdev: the underlay interface cannot be lo' % field)
        gateway = None
        if item.get('gateway'):
            if address is None:
                raise LabError('%sgateway: %s is given but the host has no IPv4 address' % (field, item['gateway']))
            gateway = parse_ipv4_address(item['gateway'], field + 'gateway')
        address6, gateway6 = _host_v6(item, field)
        if address is None and address6 is None:
            raise LabError('%saddress: required (or address6 alone, for an IPv6-only host)' % field)
        for ip in (address.ip if address else None, address6.ip if address6 else None):
            if ip in by_address:
                raise LabError('%saddress%s: %s is also the address of %s'
                               % (field, '6' if ip.version == 6 else '', ip, by_address[ip]))
            if ip is not None:
                by_address[ip] = name
        by_name[name] = field
        planned.append({'name': name, 'address': address, 'dev': dev, 'gateway': gateway, 'field': field,
                        'address6': address6, 'gateway6': gateway6,
                        # The segment is the IPv4 subnet's, or the IPv6 subnet's on an IPv6-only host.
                        'network': (address or address6).network})
    if len(set(host['address'] is None for host in planned)) > 1:
        raise LabError('hosts: %s have no IPv4 address but %s have: the hosts are IPv6-only all or none'
                       % (', '.join(h['name'] for h in planned if h['address'] is None),
                          ', '.join(h['name'] for h in planned if h['address'] is not None)))
    v6_only = planned[0]['address'] is None

    networks = sorted(set(host['network'] for host in planned))
    for first, second in zip(networks, networks[1:]):
        if first.overlaps(second):
            raise LabError('hosts: subnets %s and %s overlap; hosts of one segment must use the same prefix length'
                           % (first, second))
    need_router = len(networks) > 1 or any(host['gateway'] or (v6_only and host['gateway6']) for host in planned)

    segments = []
    for network in networks:
        members = [host for host in planned if host['network'] == network]
        field = members[0]['field']
        given = sorted(set(host['gateway'] for host in members if host['gateway']))
        if len(given) > 1:
            raise LabError('hosts: the hosts of %s give different gateways (%s)' % (network, ', '.join(map(str, given))))
        gateway = None
        if need_router and not v6_only:
            if network.prefixlen == 32:
                raise LabError('%saddress: a /32 leaves no address for the router; give a shorter prefix' % field)
            gateway = given[0] if given else first_usable(network)
            if gateway not in network:
                raise LabError('%sgateway: %s is outside %s' % (field, gateway, network))
            if network.prefixlen <= 30 and gateway in (network.network_address, network.broadcast_address):
                raise LabError('%sgateway: %s is the network or broadcast address of %s' % (field, gateway, network))
            owner = [host for host in members if host['address'].ip == gateway]
            if owner:
                raise LabError('%saddress: %s is the gateway of %s, which the router takes; give the hosts of '
                               'this segment another gateway (calico_underlay_gateway) or another address'
                               % (owner[0]['field'], gateway, network))
        # subnet: the IPv4 one, or the IPv6 one of an IPv6-only segment (gateway None there).
        segment = {'subnet': str(network), 'network': network, 'switch': switch_name(lab, network),
                   'gateway': str(gateway) if gateway else None,
                   'router_leg': leg_name(network) if need_router else None,
                   'hosts': [host['name'] for host in members]}
        segment.update(_segment_v6(members, need_router))
        segments.append(segment)
    _check_subnets_v6(segments)

    by_network = dict((segment['network'], segment) for segment in segments)
    result_hosts, ports = [], {}
    for host in planned:
        segment = by_network[host['network']]
        port = port_name(host['name'])
        if (segment['switch'], port) in ports:
            raise LabError('%sname: switch port %s is also the port of %s'
                           % (host['field'], port, ports[(segment['switch'], port)]))
        ports[(segment['switch'], port)] = host['name']
        route = None if v6_only else {
            'type': 'unicast', 'table': MAIN_TABLE, 'dst': '0.0.0.0/0', 'via': segment['gateway'], 'dev': host['dev'],
            'scope': 0 if segment['gateway'] else SCOPE_LINK, 'proto': UNDERLAY_ROUTE_PROTO, 'metric': 0, 'onlink': False}
        result_hosts.append({'name': host['name'], 'netns': host['name'],
                             'address': str(host['address']) if host['address'] else None,
                             'dev': host['dev'], 'subnet': segment['subnet'], 'switch': segment['switch'],
                             'port': port, 'gateway': segment['gateway'], 'default_route': route,
                             'address6': str(host['address6']) if host['address6'] else None,
                             'gateway6': segment['gateway_v6'] if host['address6'] else None,
                             'default_route_v6': _default_route_v6(host, segment)})

    infra = [segment['switch'] for segment in segments] + [router_name(lab)]
    for host in result_hosts:
        if host['name'] in infra:
            raise LabError('%sname: %s is the name of a namespace of the lab itself; rename the host or the lab'
                           % (by_name[host['name']], host['name']))
    seen_pods = set()
    for index, pod in enumerate(pods or []):
        pod = check_netns(pod, 'pods[%d]' % index)
        if pod in by_name or pod in infra:
            raise LabError('pods[%d]: %s is also the name of a lab host, switch or router' % (index, pod))
        if pod in seen_pods:
            raise LabError('pods[%d]: %s is given twice' % (index, pod))
        seen_pods.add(pod)
    return {'lab': lab, 'hosts': result_hosts, 'segments': segments, 'pods': list(pods or []),
            'router': router_name(lab) if need_router else None}


def _host_v4(item, field):
    """A host's IPv4 underlay address, or None for a host with address6 alone (IPv6-only)."""
    if not item.get('address') and item.get('address6'):
        return None
    text = str(item.get('address') or '').strip()
    if '/' not in text:
        raise LabError('%saddress: %r needs a prefix length, e.g. 172.16.91.201/24' % (field, item.get('address')))
    address = parse_ipv4_interface(text, field + 'address')
    network = address.network
    if network.prefixlen <= 30 and address.ip in (network.network_address, network.broadcast_address):
        raise LabError('%saddress: %s is the network or broadcast address of %s' % (field, address, network))
    return address


def _host_v6(item, field):
    """A host's IPv6 underlay address (a /64 without a prefix) and gateway, or (None, None)."""
    if not item.get('address6'):
        if item.get('gateway6'):
            raise LabError('%sgateway6: %s is given but the host has no address6' % (field, item['gateway6']))
        return None, None
    address6 = parse_ipv6_interface(item['address6'], field + 'address6', default_prefix=64)
    if address6.network.prefixlen < 127 and address6.ip == address6.network.network_address:
        raise LabError('%saddress6: %s is the subnet-router anycast address of %s' % (field, address6, address6.network))
    if address6.ip.is_link_local or address6.ip.is_multicast:
        raise LabError('%saddress6: %s is a link-local or multicast address' % (field, address6))
    gateway6 = parse_ipv6_address(item['gateway6'], field + 'gateway6') if item.get('gateway6') else None
    return address6, gateway6


def _segment_v6(members, need_router):
    """A segment's IPv6 subnet and, with a router, the router's IPv6 address on it (the subnet's first
    address unless the hosts give gateway6). The hosts of one segment share one L2: one IPv6 subnet."""
    with_v6 = [host for host in members if host['address6']]
    if not with_v6:
        return {'subnet_v6': None, 'network_v6': None, 'gateway_v6': None}
    networks = sorted(set(host['address6'].network for host in with_v6))
    if len(networks) > 1:
        raise LabError('hosts: %s share the IPv4 segment %s but not one IPv6 subnet (%s): the netns provider puts '
                       'one segment on one switch, so its hosts need one IPv6 subnet'
                       % (', '.join(host['name'] for host in with_v6), members[0]['network'],
                          ', '.join(map(str, networks))))
    network = networks[0]
    given = sorted(set(host['gateway6'] for host in with_v6 if host['gateway6']))
    if len(given) > 1:
        raise LabError('hosts: the hosts of %s give different gateway6 (%s)' % (network, ', '.join(map(str, given))))
    gateway = None
    if need_router:
        gateway = given[0] if given else network.network_address + 1
        if gateway not in network or gateway == network.network_address:
            raise LabError('%sgateway6: %s is not a host address of %s' % (with_v6[0]['field'], gateway, network))
        owner = [host for host in with_v6 if host['address6'].ip == gateway]
        if owner:
            raise LabError('%saddress6: %s is the IPv6 gateway of %s, which the router takes; give the hosts of '
                           'this segment another gateway6 (calico_underlay_gateway_v6) or another address6'
                           % (owner[0]['field'], gateway, network))
    return {'subnet_v6': str(network), 'network_v6': network, 'gateway_v6': str(gateway) if gateway else None}


def _check_subnets_v6(segments):
    networks = [(segment['network_v6'], segment['subnet']) for segment in segments if segment['network_v6']]
    for index, (network, subnet) in enumerate(networks):
        for other, other_subnet in networks[index + 1:]:
            if network.overlaps(other):
                raise LabError('hosts: the segments %s and %s have overlapping IPv6 subnets %s and %s'
                               % (subnet, other_subnet, network, other))


def _default_route_v6(host, segment):
    """With a router, an IPv6 host's default route through it; without one the hosts of the single
    segment reach each other on-link and need none (pods reach their host end's link-local address)."""
    if not host['address6'] or not segment['gateway_v6']:
        return None
    return {'type': 'unicast', 'table': MAIN_TABLE, 'dst': '::/0', 'via': segment['gateway_v6'], 'dev': host['dev'],
            'scope': None, 'proto': UNDERLAY_ROUTE_PROTO, 'metric': 1024, 'onlink': False}


def forward_keys(plan):
    """{namespace: the forwarding sysctls it must have}: every host and the router forward IPv4, those
    with IPv6 (the router when a segment has it) IPv6 too."""
    # An IPv6-only lab (no host address) forwards IPv6 alone: it leaves IPv4 as the namespace has it.
    v4 = any(host['address'] for host in plan['hosts'])
    wanted = dict((host['netns'], [key for key, wanted in ((FORWARD_KEY, host['address']),
                                                           (FORWARD_KEY_V6, host['address6'])) if wanted])
                  for host in plan['hosts'])
    if plan['router']:
        wanted[plan['router']] = ([FORWARD_KEY] if v4 else []) + (
            [FORWARD_KEY_V6] if any(s['subnet_v6'] for s in plan['segments']) else [])
    return wanted


def namespaces(plan):
    """Every namespace of the plan with its role, hosts first."""
    found = [(host['netns'], 'host') for host in plan['hosts']]
    found += [(segment['switch'], 'switch') for segment in plan['segments']]
    if plan['router']:
        found.append((plan['router'], 'router'))
    return found


# ----------------------------------------------------------------------------------------------
# Reading the machine, once.
