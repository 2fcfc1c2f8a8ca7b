# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole lab inventory checked at once, before anything changes.

Every variable the roles read is checked for every lab host, as that host will see it (its
hostvars: inventory and extra vars), falling back to the value the caller's play sees (``settings``)
and then to the roles' default. Every problem is collected, so a user fixes them all in one go;
each names the host(s), the field and the value. The lab plan (IPAM) runs only on a clean result,
and :func:`check_plan` then cross-checks what it computed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import (
    check_labels, check_policies, ipv6_only_rules,
)
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_ifname, check_k8s_namespace, check_mtu, check_netns, parse_ipv4_address, parse_ipv4_interface,
    parse_ipv4_network, parse_ipv6_address, parse_ipv6_interface, parse_ipv6_network,
)

PROVIDERS = ('netns', 'qemu', 'docker', 'auto')
MODES = ('bgp', 'ipip', 'vxlan', 'any')
ENCAP_MODES = ('always', 'cross_subnet')
ROUTINGS = ('static', 'bird')
WORKLOAD_KEYS = ('name', 'ip', 'ip6', 'namespace', 'labels')
# Route protocols the lab must not take as its tags: the kernel's own (0-4) and BIRD's (12).
RESERVED_ROUTE_PROTOS = {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 12: 'bird'}
# Inventory host names end up in paths and namespace names: letters, digits, '_', '.', '-' only.
_HOST_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$')
# Ranges no underlay, block or pool may use.
_SPECIAL = [(ipaddress.IPv4Network(net), why) for net, why in (
    ('0.0.0.0/8', 'the "this network" range'), ('127.0.0.0/8', 'loopback'),
    ('169.254.0.0/16', 'link-local (the pods\' gateway 169.254.1.1 lives there)'),
    ('224.0.0.0/4', 'multicast'), ('240.0.0.0/4', 'reserved'))]
_SPECIAL_V6 = [(ipaddress.IPv6Network(net), why) for net, why in (
    ('::/96', 'the unspecified/loopback range'), ('::ffff:0:0/96', 'IPv4-mapped addresses'),
    ('fe80::/10', 'link-local (the pods\' gateway fe80::ecee:eeff:feee:eeee lives there)'),
    ('ff00::/8', 'multicast'))]
# Calico's IPv6 block sizes (api/pkg/apis/projectcalico/v3/ippool.go, BlockSize: 116-128, default 122).
BLOCK_SIZE_V6 = (116, 128, 122)
# What an IPv6-only host (calico_node_address_v6 without calico_node_address) must not be given.
IPV4_HOST_FIELDS = ('calico_pod_cidr', 'calico_tunnel_address', 'calico_underlay_gateway')

# Lab-wide variables: name -> (default, checker). Every lab host must see the same value.
LAB_WIDE = (
    'calico_lab_provider', 'calico_routing', 'calico_ipip_mode', 'calico_vxlan_mode', 'calico_ipam_pool',
    'calico_block_size', 'calico_ipam_pool_v6', 'calico_block_size_v6', 'calico_as_number', 'calico_route_reflectors', 'calico_route_reflector_cluster_id',
    'calico_bird_hold_time', 'calico_bird_keepalive_time', 'calico_bird_connect_retry', 'calico_bird_wait_timeout',
    'calico_workload_route_proto', 'calico_peer_route_proto', 'calico_veth_mtu', 'calico_tunnel_mtu',
    'calico_verify_count', 'calico_verify_deadline', 'calico_policies',
)
DEFAULTS = {
    'calico_lab_provider': '', 'calico_routing': 'static', 'calico_ipip_mode': 'always',
    'calico_vxlan_mode': 'always', 'calico_ipam_pool': None, 'calico_block_size': 26, 'calico_ipam_pool_v6': None,
    'calico_block_size_v6': BLOCK_SIZE_V6[2], 'calico_as_number': 64512,
    'calico_route_reflectors': [], 'calico_route_reflector_cluster_id': '244.0.0.1', 'calico_bird_hold_time': 30,
    'calico_bird_keepalive_time': 10, 'calico_bird_connect_retry': 5, 'calico_bird_wait_timeout': 90,
    'calico_workload_route_proto': 77, 'calico_peer_route_proto': 78, 'calico_veth_mtu': None,
    'calico_tunnel_mtu': None, 'calico_verify_count': 3, 'calico_verify_deadline': 5, 'calico_policies': [],
}


def _choice(choices):
    def check(value):
        if value not in choices:
            raise ValueError('is not one of %s' % ', '.join(c for c in choices if c))
        return value
    return check


def _provider(value):
    if value not in PROVIDERS + ('',):
        raise ValueError('is not one of %s (or unset, for hosts reached over SSH)' % ', '.join(PROVIDERS))
    return value


def check_int(value, low, high):
    """An integer in [low, high]; digit strings (extra vars) count, booleans do not."""
    if isinstance(value, bool) or not (isinstance(value, int) or str(value).strip().isdigit()):
        raise ValueError('is not a whole number')
    number = int(value)
    if not low <= number <= high:
        raise ValueError('is outside %d-%d' % (low, high))
    return number


def _int(low, high):
    return lambda value: check_int(value, low, high)


def _network(value):
    if value is None:
        return None
    return _usable_network(parse_ipv4_network(value, 'x'))


def _network_v6(value):
    if value is None:
        return None
    return _usable_network(parse_ipv6_network(value, 'x'))


def _usable_network(net):
    for special, why in (_SPECIAL if net.version == 4 else _SPECIAL_V6):
        if net.overlaps(special):
            raise ValueError('overlaps %s %s' % (special, why))
    return net


def _cluster_id(value):
    return parse_ipv4_address(value, 'x')


def _reflectors(value):
    if value is None:
        return []
    if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)):
        raise ValueError('must be a list of inventory host names')
    if len(set(map(str, value))) != len(value):
        raise ValueError('names a host twice')
    return [str(name) for name in value]


def _route_proto(value):
    number = check_int(value, 1, 255)
    if number in RESERVED_ROUTE_PROTOS:
        raise ValueError('is the %s protocol, which the lab must not claim as its tag' % RESERVED_ROUTE_PROTOS[number])
    return number


def _mtu(value):
    return check_mtu(value, 'x')


CHECKS = {
    'calico_lab_provider': _provider, 'calico_routing': _choice(ROUTINGS), 'calico_ipip_mode': _choice(ENCAP_MODES),
    'calico_vxlan_mode': _choice(ENCAP_MODES), 'calico_ipam_pool': _network, 'calico_block_size': _int(0, 32),
    'calico_ipam_pool_v6': _network_v6, 'calico_block_size_v6': _int(BLOCK_SIZE_V6[0], BLOCK_SIZE_V6[1]),
    'calico_as_number': _int(1, 4294967295), 'calico_route_reflectors': _reflectors,
    'calico_route_reflector_cluster_id': _cluster_id,
    'calico_bird_hold_time': _int(0, 65535), 'calico_bird_keepalive_time': _int(1, 65535),
    'calico_bird_connect_retry': _int(1, 65535), 'calico_bird_wait_timeout': _int(1, 3600),
    'calico_workload_route_proto': _route_proto, 'calico_peer_route_proto': _route_proto,
    'calico_veth_mtu': lambda v: None if v is None else _mtu(v),
    'calico_tunnel_mtu': lambda v: None if v is None else _mtu(v),
    'calico_verify_count': _int(1, 100), 'calico_verify_deadline': _int(1, 300),
    'calico_policies': lambda v: v,  # checked policy by policy in _check_lab_rules
}


def _reason(exc):
    """A checker's reason without the field prefix iproute's helpers put in front of it."""
    text = str(exc)
    return text[3:] if text.startswith('x: ') else text


def _get(hostvars, host, name):
    """HOST's value of NAME, or None. A value whose template names a variable only a play defines
    cannot be resolved from the inventory alone: the plan the play itself computes checks it."""
    try:
        return hostvars[host].get(name)
    except Exception:  # Ansible's undefined-variable errors; this file must not import ansible
        return None


def host_value(hostvars, host, name, settings=None, default=None):
    """What a role on HOST reads for NAME: its hostvars, else the caller's play, else the default."""
    value = _get(hostvars, host, name)
    if value is None and settings:
        value = settings.get(name)
    return default if value is None else value


def _names(hosts):
    return ', '.join(hosts)


def _check_lab_wide(hostvars, hosts, settings, problems):
    """Each lab-wide variable: the same on every host, and valid. Returns {name: checked value}."""
    lab = {}
    for name in LAB_WIDE:
        by_value = []
        for host in hosts:
            value = host_value(hostvars, host, name, settings, DEFAULTS[name])
            for seen in by_value:
                if seen[0] == value:
                    seen[1].append(host)
                    break
            else:
                by_value.append((value, [host]))
        if len(by_value) > 1:
            problems.append('%s: a lab-wide setting, but the hosts differ: %s (set it once, in the vars of the '
                            'group or of all)' % (name, '; '.join('%s %r' % (_names(h), v) for v, h in by_value)))
            continue
        value, owners = by_value[0]
        try:
            lab[name] = CHECKS[name](value)
        except (ValueError, LabError) as exc:
            problems.append('%s: %s: %r %s' % (_names(owners), name, value, _reason(exc)))
    return lab


def _check_lab_rules(lab, hosts, mode, problems):
    """Rules between lab-wide values."""
    if mode not in MODES:
        problems.append('calico_mode: %r is not one of %s' % (mode, ', '.join(MODES)))
    for name in lab.get('calico_route_reflectors') or []:
        if name not in hosts:
            problems.append('calico_route_reflectors: %r is not a lab host (hosts: %s)' % (name, _names(hosts)))
    hold, keepalive = lab.get('calico_bird_hold_time'), lab.get('calico_bird_keepalive_time')
    if hold is not None and 0 < hold < 3:
        problems.append('calico_bird_hold_time: %d: BGP allows 0 or 3-65535 seconds' % hold)
    if hold and keepalive is not None and keepalive >= hold:
        problems.append('calico_bird_keepalive_time: %d is not below calico_bird_hold_time %d (the session '
                        'would expire between keepalives)' % (keepalive, hold))
    protos = (lab.get('calico_workload_route_proto'), lab.get('calico_peer_route_proto'))
    if None not in protos and protos[0] == protos[1]:
        problems.append('calico_workload_route_proto and calico_peer_route_proto: both %d; pod routes and routes '
                        'between hosts need tags of their own' % protos[0])
    if lab.get('calico_routing') == 'bird' and len(hosts) < 2:
        problems.append('calico_routing: bird needs at least two lab hosts (hosts: %s)' % _names(hosts))
    problems.extend(check_policies(lab.get('calico_policies'))[1])
    pool, size = lab.get('calico_ipam_pool'), lab.get('calico_block_size')
    if pool is not None and size is not None and size < pool.prefixlen:
        problems.append('calico_block_size: /%d does not fit in calico_ipam_pool %s' % (size, pool))
    pool, size = lab.get('calico_ipam_pool_v6'), lab.get('calico_block_size_v6')
    if pool is not None and size is not None and size < pool.prefixlen:
        problems.append('calico_block_size_v6: /%d does not fit in calico_ipam_pool_v6 %s' % (size, pool))


def _check_workloads(host, items, problems, v6_only=False):
    if items is None:
        return
    if not isinstance(items, list):
        problems.append('%s: calico_workloads: %r must be a list of {name, ip, labels}' % (host, items))
        return
    for index, item in enumerate(items):
        field = '%s: calico_workloads[%d]' % (host, index)
        if not isinstance(item, dict):
            problems.append('%s: %r must be a mapping {name, ip}' % (field, item))
            continue
        unknown = sorted(set(map(str, item)) - set(WORKLOAD_KEYS))
        if unknown:
            problems.append('%s: unknown key %s (a workload has %s)'
                            % (field, ', '.join(unknown), ', '.join(WORKLOAD_KEYS)))
        if not item.get('name'):
            problems.append('%s.name: missing; each workload needs a name' % field)
        else:
            _try(problems, check_netns, str(item['name']) if not isinstance(item['name'], str) else item['name'],
                 field + '.name')
        if item.get('ip') and v6_only:
            problems.append('%s.ip: %s is IPv4, but %s is IPv6-only (no calico_node_address): give ip6 or nothing'
                            % (field, item['ip'], host))
        elif item.get('ip'):
            _try(problems, parse_ipv4_address, item['ip'], field + '.ip')
        if item.get('ip6'):
            _try(problems, parse_ipv6_address, item['ip6'], field + '.ip6')
        if 'namespace' in item:
            _try(problems, check_k8s_namespace, item['namespace'], field + '.namespace')
        check_labels(host, index, item.get('labels'), problems)


def _try(problems, check, value, field):
    try:
        return check(value, field)
    except LabError as exc:
        problems.append(str(exc))
        return None


def _check_gateway(hostvars, host, name, parse, node, problems):
    """The underlay gateway NAME (either family): another address of the host's subnet NODE."""
    gateway = _get(hostvars, host, name)
    if gateway:
        ip = _try(problems, parse, gateway, '%s: %s' % (host, name))
        if ip is not None and node is not None and (ip not in node.network or ip == node.ip):
            problems.append('%s: %s: %s must be another address of the host\'s subnet %s'
                            % (host, name, gateway, node.network))


def _check_block(hostvars, host, name, parse, problems):
    """The explicit pod block NAME (either family): a network clear of the special ranges. Returns it as given."""
    cidr = _get(hostvars, host, name)
    if cidr:
        block = _try(problems, parse, cidr, '%s: %s' % (host, name))
        if block is not None:
            try:
                _usable_network(block)
            except ValueError as exc:
                problems.append('%s: %s: %s %s' % (host, name, cidr, exc))
    return cidr


def _check_host(hostvars, host, provider, problems, pool_v6=None):
    """One host's own variables."""
    if not isinstance(host, str) or not _HOST_RE.match(host):
        problems.append('%s: inventory host name %r may contain only letters, digits, "_", "." and "-" '
                        '(1-64 of them): it names files, processes and, on the netns provider, a namespace'
                        % (host, host))
    address = _get(hostvars, host, 'calico_node_address')
    node = None
    if not address and _get(hostvars, host, 'calico_node_address_v6'):
        # IPv6-only (issue 13): no IPv4 field may be given; the lab rules in check_inventory say the rest.
        for name in IPV4_HOST_FIELDS:
            if _get(hostvars, host, name):
                problems.append('%s: %s: %s is IPv4, but the host is IPv6-only (calico_node_address_v6 %s without '
                                'calico_node_address)' % (host, name, _get(hostvars, host, name),
                                                          _get(hostvars, host, 'calico_node_address_v6')))
    elif not address:
        problems.append('%s: calico_node_address is missing (e.g. 172.16.91.201/24)' % host)
    else:
        node = _try(problems, lambda v, f: parse_ipv4_interface(v, f, default_prefix=24), address,
                    '%s: calico_node_address' % host)
    if node is not None:
        if any(node.ip in special for special, _label in _SPECIAL):
            problems.append('%s: calico_node_address: %s is a loopback, link-local, multicast or reserved address'
                            % (host, address))
        elif node.network.prefixlen < 31 and node.ip in (node.network.network_address, node.network.broadcast_address):
            problems.append('%s: calico_node_address: %s is the %s address of its subnet %s'
                            % (host, address, 'network' if node.ip == node.network.network_address else 'broadcast',
                               node.network))
    dev = _get(hostvars, host, 'calico_underlay_dev')
    if dev is not None and _try(problems, check_ifname, dev, '%s: calico_underlay_dev' % host) == 'lo':
        problems.append('%s: calico_underlay_dev: the underlay interface cannot be lo' % host)
    _check_gateway(hostvars, host, 'calico_underlay_gateway', parse_ipv4_address, node, problems)
    _check_block(hostvars, host, 'calico_pod_cidr', parse_ipv4_network, problems)
    tunnel = _get(hostvars, host, 'calico_tunnel_address')
    if tunnel:
        _try(problems, parse_ipv4_address, tunnel, '%s: calico_tunnel_address' % host)
    _check_workloads(host, _get(hostvars, host, 'calico_workloads'), problems, v6_only=node is None and bool(
        _get(hostvars, host, 'calico_node_address_v6')))
    _check_host_v6(hostvars, host, pool_v6, problems)


def _check_host_v6(hostvars, host, pool_v6, problems):
    """One host's IPv6 variables: the node address (a /64 unless given), gateway, block, pods' ip6."""
    address = _get(hostvars, host, 'calico_node_address_v6')
    field = '%s: calico_node_address_v6' % host
    node = None
    if address:
        node = _try(problems, lambda v, f: parse_ipv6_interface(v, f, default_prefix=64), address, field)
    if node is not None:
        if any(node.ip in special for special, _label in _SPECIAL_V6):
            problems.append('%s: %s is an unspecified, loopback, IPv4-mapped, link-local or multicast address'
                            % (field, address))
        elif node.network.prefixlen < 127 and node.ip == node.network.network_address:
            problems.append('%s: %s is the subnet-router anycast address of %s' % (field, address, node.network))
    without = [] if address else [
        name for name in ('calico_underlay_gateway_v6', 'calico_pod_cidr_v6') if _get(hostvars, host, name)]
    workloads = _get(hostvars, host, 'calico_workloads')
    if not address and isinstance(workloads, list) and any(isinstance(w, dict) and w.get('ip6') for w in workloads):
        without.append('calico_workloads[].ip6')
    for name in without:
        problems.append('%s: %s is set but calico_node_address_v6 is not (the host has no IPv6 underlay)'
                        % (host, name))
    _check_gateway(hostvars, host, 'calico_underlay_gateway_v6', parse_ipv6_address, node, problems)
    cidr = _check_block(hostvars, host, 'calico_pod_cidr_v6', parse_ipv6_network, problems)
    if not cidr and address and pool_v6 is None:
        problems.append('%s: calico_node_address_v6 %s but no calico_pod_cidr_v6 and no calico_ipam_pool_v6 to cut '
                        'an IPv6 block from' % (host, address))


def check_inventory(hostvars, hosts, mode='any', settings=None):
    """Check the lab inventory; returns (lab-wide values, problems). Nothing is changed anywhere."""
    problems = []
    if not hosts:
        return {}, ['group calico_nodes is empty: the inventory names no lab host']
    hostvars = dict((host, hostvars[host]) for host in hosts)  # each host's variables looked up once
    lab = _check_lab_wide(hostvars, hosts, settings, problems)
    _check_lab_rules(lab, hosts, mode, problems)
    for host in hosts:
        _check_host(hostvars, host, lab.get('calico_lab_provider'), problems, lab.get('calico_ipam_pool_v6'))
    dual = [host for host in hosts if _get(hostvars, host, 'calico_node_address_v6')]
    problems.extend(_check_v6_only(hostvars, hosts, mode, lab))
    if not dual:  # dual-stack hosts get the policy in ip6tables too; without one an IPv6 rule polices nothing
        problems.extend('%s (hosts: %s)' % (text, _names(hosts))
                        for text in ipv6_only_rules(check_policies(lab.get('calico_policies'))[0]))
    return lab, problems


def v6_only_hosts(hostvars, hosts):
    """The hosts with calico_node_address_v6 and no calico_node_address, in inventory order."""
    return [host for host in hosts
            if _get(hostvars, host, 'calico_node_address_v6') and not _get(hostvars, host, 'calico_node_address')]


def _check_v6_only(hostvars, hosts, mode, lab):
    """An IPv6-only lab: every host IPv6-only, and not IPIP mode (Calico's IPIP carries IPv4 only)."""
    only = v6_only_hosts(hostvars, hosts)
    if not only:
        return []
    problems = []
    others = [host for host in hosts if host not in only]
    if others:
        # Calico would run such a cluster, but a v4 pod cannot reach a v6-only node's pods at all, and the
        # lab's BIRD, verify and netns switches are one family set per lab: refused rather than half-built.
        problems.append('%s: IPv6-only (calico_node_address_v6 without calico_node_address) beside %s, which have '
                        'calico_node_address: a lab is IPv6-only on every host or on none; give %s an IPv4 '
                        'calico_node_address too (dual stack) or drop calico_node_address from %s'
                        % (_names(only), _names(others), _names(only), _names(others)))
    if mode == 'ipip':
        host = only[0]
        problems.append('%s: calico_node_address_v6: %s without calico_node_address: IPIP mode carries IPv4 only '
                        '(Calico refuses an IPv6 pool with ipipMode other than Never), so an IPv6-only host has no '
                        'IPIP; use BGP mode (playbooks/bgp.yml) or VXLAN mode (playbooks/vxlan.yml)'
                        % (host, _get(hostvars, host, 'calico_node_address_v6')))
    if lab.get('calico_policies'):
        # Not built or tested for pods without IPv4: refused rather than half-policed.
        problems.append('%s: calico_policies with IPv6-only hosts: the policy role is built for IPv4 and dual-stack '
                        'pods; drop calico_policies or give the hosts IPv4 (dual stack)' % _names(only))
    if lab.get('calico_ipam_pool') is not None and not others:
        problems.append('calico_ipam_pool: %s is an IPv4 pool, but every host is IPv6-only (no calico_node_address); '
                        'drop it or give the hosts IPv4' % lab['calico_ipam_pool'])
    return problems


def check_plan(plan, lab, pool=None, lab_name='lab'):
    """Cross-checks on the computed plan: underlay subnets against blocks and the pool, and pod
    namespaces against the host namespaces of the netns provider. Returns the problems."""
    problems = []
    subnets = [(host, ipaddress.IPv4Network(item['subnet'])) for host, item in plan.items() if item['subnet']]
    pool = pool or lab.get('calico_ipam_pool')
    for host, item in plan.items():
        if not item['block']:
            continue  # an IPv6-only host
        block = ipaddress.IPv4Network(item['block'])
        for other, subnet in subnets:
            if block.overlaps(subnet):
                problems.append('%s: its pod block %s overlaps the underlay subnet %s of %s (calico_node_address %s)'
                                % (host, block, subnet, other, plan[other]['node_address']))
    if pool is not None:
        pool_net = ipaddress.IPv4Network(str(pool))
        for host, subnet in subnets:
            if pool_net.overlaps(subnet):
                problems.append('calico_ipam_pool: %s overlaps the underlay subnet %s of %s' % (pool_net, subnet, host))
                break
    problems.extend(_check_plan_v6(plan, lab))
    if lab.get('calico_lab_provider') in ('netns', 'auto'):
        # Host and pod namespaces share this machine's list of namespaces.
        reserved = {router_name(lab_name): 'the router namespace'}
        for host, subnet in subnets + [(host, ipaddress.IPv6Network(item['subnet_v6'])) for host, item in plan.items()
                                       if not item['subnet'] and item.get('subnet_v6')]:
            reserved[switch_name(lab_name, subnet)] = 'a switch namespace'
        for host in plan:
            if host in reserved:
                problems.append('%s: the host name is %s of the netns provider' % (host, reserved[host]))
        for host, item in plan.items():
            for w in item['workloads']:
                if w['name'] in plan:
                    problems.append('%s: calico_workloads: pod %s has the name of the lab host %s (on the netns '
                                    'provider both are namespaces of this machine)' % (host, w['name'], w['name']))
                elif w['name'] in reserved:
                    problems.append('%s: calico_workloads: pod %s has the name of %s of the netns provider'
                                    % (host, w['name'], reserved[w['name']]))
    return problems


def _check_plan_v6(plan, lab):
    """The IPv6 blocks and pool against the IPv6 underlay subnets."""
    problems = []
    subnets = [(host, ipaddress.IPv6Network(item['subnet_v6'])) for host, item in plan.items() if item.get('subnet_v6')]
    for host, item in plan.items():
        if not item.get('block_v6'):
            continue
        block = ipaddress.IPv6Network(item['block_v6'])
        for other, subnet in subnets:
            if block.overlaps(subnet):
                problems.append('%s: its IPv6 pod block %s overlaps the IPv6 underlay subnet %s of %s '
                                '(calico_node_address_v6 %s)' % (host, block, subnet, other, plan[other]['node_address_v6']))
    pool = lab.get('calico_ipam_pool_v6')
    if pool is not None:
        pool_net = ipaddress.IPv6Network(str(pool))
        for host, subnet in subnets:
            if pool_net.overlaps(subnet):
                problems.append('calico_ipam_pool_v6: %s overlaps the IPv6 underlay subnet %s of %s'
                                % (pool_net, subnet, host))
                break
    return problems


def switch_name(lab, network):
    """The netns provider's switch of a subnet: ``<lab>-sw-172-16-91-0-24``; of an IPv6-only segment
    ``<lab>-sw-fd00-91---64`` (':' is no character of a namespace name here)."""
    return '%s-sw-%s-%d' % (lab, str(network.network_address).replace('.', '-').replace(':', '-'), network.prefixlen)


def router_name(lab):
    """The netns provider's router namespace."""
    return '%s-router' % lab


def raise_problems(problems):
    if problems:
        raise LabError('%d problem%s, nothing was changed:\n  - %s'
                       % (len(problems), '' if len(problems) == 1 else 's', '\n  - '.join(problems)))
