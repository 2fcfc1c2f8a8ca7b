# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab plan's IPv6 half (issue 13): per host its IPv6 node address, block, tunnel address and VTEP
MAC, per pod its ip6, per peer what the routes between the hosts need; and the filter items built from
them. The IPv4 plan (plugins/filter/calico_lab.py) calls these; a host without IPv6 gets None in every
IPv6 key. No system access."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

# The pods' IPv6 gateway, the host end's link-local address (ipfamily.py has its source).
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import CALICO_GATEWAY_V6
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, parse_ipv6_address, parse_ipv6_interface, parse_ipv6_network,
)

# Calico's default IPv6 block size (api/pkg/apis/projectcalico/v3/ippool.go, BlockSize).
DEFAULT_BLOCK_SIZE_V6 = 122
# An IPv6 underlay address without a prefix is a /64, the usual size of an IPv6 subnet.
DEFAULT_NODE_PREFIX_V6 = 64
# Felix's VXLAN device for IPv6 (felix/dataplane/linux/vxlan_mgr.go, the v6 manager).
VXLAN_V6_DEVICE = 'vxlan-v6.calico'
V6_KEYS = ('node_address_v6', 'node_ip_v6', 'subnet_v6', 'block_v6', 'tunnel_address_v6', 'vtep_mac_v6')
PEER_V6_KEYS = ('node_ip_v6', 'block_v6', 'tunnel_address_v6', 'vtep_mac_v6')


def vtep_mac(host, version=4):
    """Felix's VTEP MAC of a node that has no VXLANTunnelMACAddr(V6): the byte 0x66 ("f", a locally
    administered unicast address) and the first 5 bytes of a SHA-1 of the node name, here the lab host's
    name; for IPv6 of the name followed by "-v6" (felix/calc/vxlan_resolver.go, vtepMACForHost)."""
    name = host if version == 4 else host + '-v6'
    digest = hashlib.sha1(name.encode('utf-8')).hexdigest()
    return ':'.join(['66'] + [digest[i:i + 2] for i in range(0, 10, 2)])


def cut_blocks(explicit, hosts, pool, block_size, names):
    """Explicit blocks (host -> network) first, then blocks of POOL for the other HOSTS, in inventory
    order; blocks must not overlap. NAMES: (the pod CIDR variable, the pool variable) for messages."""
    blocks = dict(explicit)
    missing = [host for host in hosts if host not in blocks]
    if missing:
        if pool is None:
            raise LabError('%s: no %s and no %s to cut a block from' % (missing[0], names[0], names[1]))
        # Lazy: an IPv6 pool holds far more blocks than a lab takes.
        free = (b for b in pool.subnets(new_prefix=block_size)
                if not any(b.overlaps(taken) for taken in blocks.values()))
        for host in missing:
            try:
                blocks[host] = next(free)
            except StopIteration:
                raise LabError('%s: %s %s has no free /%d block left' % (host, names[1], pool, block_size))
    ordered = [(host, blocks[host]) for host in hosts if host in blocks]
    for index, (host, block) in enumerate(ordered):
        for other, other_block in ordered[index + 1:]:
            if block.overlaps(other_block):
                raise LabError('%s: %s %s overlaps %s of %s' % (other, names[0], other_block, block, host))
    return blocks


def _value(hostvars, host, name):
    value = hostvars[host].get(name)
    return None if value in (None, '') else value


def plan_v6(hostvars, hosts, pool=None, block_size=DEFAULT_BLOCK_SIZE_V6):
    """{host: the host plan's IPv6 keys}, None in each for hosts without calico_node_address_v6."""
    pool_net = parse_ipv6_network(pool, 'calico_ipam_pool_v6') if pool else None
    addresses, explicit = {}, {}
    for host in hosts:
        text = _value(hostvars, host, 'calico_node_address_v6')
        if text is None:
            for name in ('calico_pod_cidr_v6', 'calico_underlay_gateway_v6'):
                if _value(hostvars, host, name) is not None:
                    raise LabError('%s: %s is set but calico_node_address_v6 is not (IPv6 needs the host\'s '
                                   'IPv6 underlay address)' % (host, name))
            continue
        addresses[host] = parse_ipv6_interface(text, '%s: calico_node_address_v6' % host, DEFAULT_NODE_PREFIX_V6)
        cidr = _value(hostvars, host, 'calico_pod_cidr_v6')
        if cidr is not None:
            explicit[host] = parse_ipv6_network(cidr, '%s: calico_pod_cidr_v6' % host)
    v6_hosts = [host for host in hosts if host in addresses]
    blocks = cut_blocks(explicit, v6_hosts, pool_net, int(block_size), ('calico_pod_cidr_v6', 'calico_ipam_pool_v6'))
    plan, node_ips = {}, {}
    for host in hosts:
        if host not in addresses:
            plan[host] = dict.fromkeys(V6_KEYS)
            continue
        address, block = addresses[host], blocks[host]
        if address.ip in node_ips:
            raise LabError('%s: calico_node_address_v6 %s is also %s\'s' % (host, address.ip, node_ips[address.ip]))
        node_ips[address.ip] = host
        plan[host] = {'node_address_v6': str(address), 'node_ip_v6': str(address.ip),
                      'subnet_v6': str(address.network), 'block_v6': str(block),
                      # As for IPv4: the tunnel address is the block's first address.
                      'tunnel_address_v6': str(block.network_address), 'vtep_mac_v6': vtep_mac(host, 6)}
    return plan


def assign_ip6(host, block_v6, tunnel_v6, workloads, items):
    """Give each workload its ip6: the item's own, or the next free address of the host's block.

    WORKLOADS: the IPv4 plan's workloads (dicts, changed in place) in the order of ITEMS (the inventory's).
    """
    block = parse_ipv6_network(block_v6, 'block') if block_v6 else None
    used = set([parse_ipv6_address(tunnel_v6, 'tunnel')]) if tunnel_v6 else set()
    for index, (workload, item) in enumerate(zip(workloads, items)):
        field = '%s: calico_workloads[%d].ip6' % (host, index)
        workload['ip6'] = None
        if not item.get('ip6'):
            continue
        if block is None:
            raise LabError('%s: %s is given but %s has no IPv6 (calico_node_address_v6)' % (field, item['ip6'], host))
        ip = parse_ipv6_address(item['ip6'], field)
        if ip not in block:
            raise LabError('%s: %s is outside %s\'s block %s' % (field, ip, host, block))
        if ip in used:
            raise LabError('%s: %s is already used on %s (the tunnel address or another pod)' % (field, ip, host))
        used.add(ip)
        workload['ip6'] = ip
    if block is None:
        return
    # IPv6 has no broadcast address: every address of the block but the tunnel's is a pod's.
    free = (ip for ip in block if ip not in used)
    for workload in workloads:
        if workload['ip6'] is None:
            try:
                workload['ip6'] = next(free)
            except StopIteration:
                raise LabError('%s: block %s has no free IPv6 address left for %s' % (host, block, workload['name']))
            used.add(workload['ip6'])
    for workload in workloads:
        workload['ip6'] = str(workload['ip6'])


def peer_v6(me, peer, names, mode, encap_mode):
    """The IPv6 keys of PEER as seen from ME (host plans); NAMES: (my name, the peer's name)."""
    keys = dict((key, peer[key]) for key in PEER_V6_KEYS)
    if not (me['block_v6'] and peer['block_v6']):
        # One of the two has no IPv6: there is nothing between them to route.
        keys.update(same_subnet_v6=False, encapsulate_v6=False)
        return keys
    same = me['subnet_v6'] == peer['subnet_v6']
    if mode in ('bgp', 'ipip') and not same:
        # IPIP carries IPv4 only: Calico routes IPv6 blocks as in BGP mode, which needs one subnet.
        raise LabError('%s (%s) and %s (%s) are not on one IPv6 subnet: %s routes IPv6 blocks straight to the '
                       'peer\'s IPv6 underlay address (IPIP carries IPv4 only), which needs one subnet. Use VXLAN '
                       '(playbooks/vxlan.yml), which carries IPv6 over vxlan-v6.calico, or one IPv6 subnet.'
                       % (names[0], me['subnet_v6'], names[1], peer['subnet_v6'],
                          'BGP mode' if mode == 'bgp' else 'IPIP mode'))
    keys.update(same_subnet_v6=same, encapsulate_v6=mode == 'vxlan' and (encap_mode == 'always' or not same))
    return keys


# ----------------------------------------------------------------------------------------------
# Filter items (the modules' input), IPv6 part.

def veth_address6(workload):
    """calico_veth's workload item: address6 when the pod has an ip6."""
    return {'address6': workload['ip6']} if workload.get('ip6') else {}


def workload_routes_v6(workload, pod_ifname='eth0'):
    """The host's /128 to the pod, and the pod's default route via the host end's link-local address
    (cni-plugin/pkg/dataplane/linux/dataplane_linux.go)."""
    if not workload.get('ip6'):
        return []
    return [{'dest': '%s/128' % workload['ip6'], 'dev': workload['host_ifname'], 'scope': 'link'},
            {'dest': '::/0', 'via': CALICO_GATEWAY_V6, 'dev': pod_ifname, 'netns': workload['netns']}]


def peer_routes_v6(host_plan, mode, mtu=None):
    """Our v6 blackhole and each peer's v6 block: through vxlan-v6.calico (MTU on the route, as for IPv4)
    when encapsulated, else straight to the peer's IPv6 underlay address (BGP and IPIP mode)."""
    if not host_plan.get('block_v6'):
        return []
    routes = [{'dest': host_plan['block_v6'], 'type': 'blackhole'}]
    route_mtu = {'mtu': int(mtu)} if mtu else {}
    for peer in host_plan['peers']:
        if not peer.get('block_v6'):
            continue
        if mode == 'vxlan' and peer['encapsulate_v6']:
            routes.append(dict({'dest': peer['block_v6'], 'via': peer['tunnel_address_v6'], 'dev': VXLAN_V6_DEVICE,
                                'onlink': True}, **route_mtu))
        else:
            routes.append({'dest': peer['block_v6'], 'via': peer['node_ip_v6'], 'dev': host_plan['underlay_dev']})
    return routes


def vxlan_peers_v6(host_plan):
    """calico_neigh input on vxlan-v6.calico: each encapsulated peer's v6 VTEP address and MAC, sent to
    the peer's IPv6 node address."""
    peers = [p for p in host_plan['peers'] if p.get('encapsulate_v6')]
    return {'neighbours': [{'address': p['tunnel_address_v6'], 'lladdr': p['vtep_mac_v6'], 'dev': VXLAN_V6_DEVICE}
                           for p in peers],
            'fdb': [{'lladdr': p['vtep_mac_v6'], 'dev': VXLAN_V6_DEVICE, 'dst': p['node_ip_v6']} for p in peers]}
