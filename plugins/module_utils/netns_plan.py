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
    LabError, check_ifname, check_netns, lab_alias, parse_ipv4_address, parse_ipv4_interface,
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
    """The router's leg on a segment: ``s-<network address in hex>-<prefix>`` (at most 13 characters)."""
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
        text = str(item.get('address') or '').strip()
        if '/' not in text:
            raise LabError('%saddress: %r needs a prefix length, e.g. 172.16.91.201/24' % (field, item.get('address')))
        address = parse_ipv4_interface(text, field + 'address')
        network = address.network
        if network.prefixlen <= 30 and address.ip in (network.network_address, network.broadcast_address):
            raise LabError('%saddress: %s is the network or broadcast address of %s' % (field, address, network))
        if address.ip in by_address:
            raise LabError('%saddress: %s is also the address of %s' % (field, address.ip, by_address[address.ip]))
        dev = check_ifname(item.get('dev') or 'eth0', field + 'dev')
        if dev == 'lo':
            raise LabError('%sdev: the underlay interface cannot be lo' % field)
        gateway = None
        if item.get('gateway'):
            gateway = parse_ipv4_address(item['gateway'], field + 'gateway')
        by_name[name] = field
        by_address[address.ip] = name
        planned.append({'name': name, 'address': address, 'dev': dev, 'gateway': gateway, 'field': field})

    networks = sorted(set(host['address'].network for host in planned))
    for first, second in zip(networks, networks[1:]):
        if first.overlaps(second):
            raise LabError('hosts: subnets %s and %s overlap; hosts of one segment must use the same prefix length'
                           % (first, second))
    need_router = len(networks) > 1 or any(host['gateway'] for host in planned)

    segments = []
    for network in networks:
        members = [host for host in planned if host['address'].network == network]
        field = members[0]['field']
        given = sorted(set(host['gateway'] for host in members if host['gateway']))
        if len(given) > 1:
            raise LabError('hosts: the hosts of %s give different gateways (%s)' % (network, ', '.join(map(str, given))))
        gateway = None
        if need_router:
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
        segments.append({'subnet': str(network), 'network': network, 'switch': switch_name(lab, network),
                         'gateway': str(gateway) if gateway else None,
                         'router_leg': leg_name(network) if need_router else None,
                         'hosts': [host['name'] for host in members]})

    by_network = dict((segment['network'], segment) for segment in segments)
    result_hosts, ports = [], {}
    for host in planned:
        segment = by_network[host['address'].network]
        port = port_name(host['name'])
        if (segment['switch'], port) in ports:
            raise LabError('%sname: switch port %s is also the port of %s'
                           % (host['field'], port, ports[(segment['switch'], port)]))
        ports[(segment['switch'], port)] = host['name']
        route = {'type': 'unicast', 'table': MAIN_TABLE, 'dst': '0.0.0.0/0', 'via': segment['gateway'],
                 'dev': host['dev'], 'scope': 0 if segment['gateway'] else SCOPE_LINK,
                 'proto': UNDERLAY_ROUTE_PROTO, 'metric': 0, 'onlink': False}
        result_hosts.append({'name': host['name'], 'netns': host['name'], 'address': str(host['address']),
                             'dev': host['dev'], 'subnet': segment['subnet'], 'switch': segment['switch'],
                             'port': port, 'gateway': segment['gateway'], 'default_route': route})

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


def namespaces(plan):
    """Every namespace of the plan with its role, hosts first."""
    found = [(host['netns'], 'host') for host in plan['hosts']]
    found += [(segment['switch'], 'switch') for segment in plan['segments']]
    if plan['router']:
        found.append((plan['router'], 'router'))
    return found


# ----------------------------------------------------------------------------------------------
# Reading the machine, once.
