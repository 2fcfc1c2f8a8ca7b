# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BGP between the lab hosts with BIRD: who peers with whom, and whether it worked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.module_utils.bird import (
    established, hash_router_id, parse_show_protocols, session_name,
)
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, parse_ipv4_address


def _check_as_number(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if str(value).strip() != str(number) or not 1 <= number <= 4294967295:
        raise LabError('calico_as_number: %r is not an AS number (1-4294967295)' % (value,))
    return number


def _check_reflectors(plan, reflectors):
    if reflectors is None:
        return []
    if isinstance(reflectors, str) or not isinstance(reflectors, (list, tuple)):
        raise LabError('calico_route_reflectors: must be a list of inventory host names')
    seen = []
    for name in reflectors:
        if name not in plan:
            raise LabError('calico_route_reflectors: %s is not a lab host (hosts: %s)' % (name, ', '.join(sorted(plan))))
        if name in seen:
            raise LabError('calico_route_reflectors: %s is listed twice' % name)
        seen.append(name)
    return seen


def _session_kind(host, peer_name, reflectors):
    """('mesh' or 'reflector', rr_client), or None when the two hosts do not peer."""
    if not reflectors:
        return 'mesh', False
    if host in reflectors:
        # A reflector peers with everyone: the other reflectors as equals, the rest as its clients.
        return 'reflector', peer_name not in reflectors
    if peer_name in reflectors:
        return 'reflector', False
    return None  # two clients never peer with each other


def _session(kind, rr_client, peer_name, mine, theirs, family):
    # Calico's mesh is one-way, so that a graceful restart is not cut short by the peer's own
    # connection: the side with the greater address (compared as strings, as confd does for both
    # families: bgp_processor.go processMeshPeers) waits. Sessions to and from route reflectors
    # are opened by both sides.
    passive = kind == 'mesh' and str(theirs) > str(mine)
    return {'name': session_name(theirs, kind), 'peer': peer_name, 'neighbor': theirs,
            'rr_client': rr_client, 'passive': passive, 'family': family}


def _v6_next_hop(me, peer):
    # IPIP carries IPv4 only and BIRD routes no VXLAN: a v6 block goes straight to the peer's v6
    # underlay address (the plan refuses v6 peers on another v6 subnet in BGP and IPIP mode).
    return {'address': peer['node_ip_v6'], 'peer': peer['name'], 'dev': me['underlay_dev'], 'onlink': False}


def _bird_config(plan, host, route_reflectors, cluster_id, as_number):
    me = plan[host]
    reflectors = _check_reflectors(plan, route_reflectors)
    if not me['peers']:
        raise LabError('%s: a BGP lab needs at least two hosts' % host)
    # IPv6 where this host has a v6 address (the plan's keys are None, or absent, without IPv6).
    me_v6 = me.get('node_ip_v6')
    v6_names = set(peer['name'] for peer in me['peers'] if me_v6 and peer.get('node_ip_v6'))
    # The peers whose v6 block we learn (and so must reach): those with a v6 address and block.
    v6_blocks = [peer for peer in me['peers'] if peer['name'] in v6_names and peer.get('block_v6')]
    sessions, sessions_v6 = [], []
    for peer in me['peers']:
        kind = _session_kind(host, peer['name'], reflectors)
        if kind is None:
            continue
        if me['node_ip'] and peer['node_ip']:  # no IPv4 sessions in an IPv6-only lab (bird.cfg.template)
            sessions.append(_session(kind[0], kind[1], peer['name'], me['node_ip'], peer['node_ip'], 'ipv4'))
        if peer['name'] in v6_names:
            # As calico-node's bird6: a session of its own between the two v6 addresses.
            sessions_v6.append(_session(kind[0], kind[1], peer['name'], me_v6, peer['node_ip_v6'], 'ipv6'))
    v4_peers = [peer for peer in me['peers'] if me['node_ip'] and peer['node_ip']]
    return {
        # Also for IPv6: a router id is 4 octets even in MP-BGP (bgp_processor.go populateNodeConfig); a
        # host without IPv4 gets calico-node's CALICO_ROUTER_ID=hash id (module_utils/bird.py hash_router_id).
        'router_id': me['node_ip'] or hash_router_id(host),
        # False on an IPv6-only host: no IPv4 table, block, kernel protocol or session ("IPv4 disabled on
        # this node." in node/filesystem/etc/calico/confd/templates/bird.cfg.template).
        'ipv4': bool(me['node_ip']),
        'as_number': _check_as_number(as_number),
        'route_reflector': host in reflectors,
        'cluster_id': str(parse_ipv4_address(cluster_id, 'calico_route_reflector_cluster_id')),
        'block': me['block'],
        'peer_blocks': [peer['block'] for peer in v4_peers],
        'sessions': sessions + sessions_v6,
        # How BIRD reaches each peer's next hop: over the underlay, or into tunl0 (onlink) when the
        # lab encapsulates toward that peer (IPIP always, or cross_subnet to another subnet).
        'next_hops': [{'address': peer['node_ip'], 'peer': peer['name'],
                       'dev': 'tunl0' if peer['encapsulate'] else me['underlay_dev'],
                       'onlink': bool(peer['encapsulate'])} for peer in v4_peers],
        # IPv6: None and empty lists on a host without IPv6, so that its configuration is IPv4 only.
        'node_ip_v6': me_v6 or None,
        'block_v6': (me.get('block_v6') or None) if me_v6 else None,
        'peer_blocks_v6': [peer['block_v6'] for peer in v6_blocks],
        'next_hops_v6': [_v6_next_hop(me, peer) for peer in v6_blocks],
    }


def bird_config(plan, host, route_reflectors=None, cluster_id='244.0.0.1', as_number=64512):
    """This host's BGP settings for the BIRD template: router id, sessions, blocks, next hops."""
    try:
        return _bird_config(plan, host, route_reflectors, cluster_id, as_number)
    except LabError as exc:
        raise AnsibleFilterError('lab inventory: %s' % exc)


def _routes(text):
    try:
        return json.loads(text) if text and text.strip() else []
    except ValueError:
        return None


def _check_routes(host, by_dest, block, peer_blocks, next_hops, check_devices, failures):
    """Failures for the own block (a blackhole) and each peer block (via its next hop); returns how
    many peer blocks were learned right."""
    own = by_dest.get(block)
    if not own or own.get('type') != 'blackhole':
        failures.append('%s: no proto bird blackhole for its own block %s' % (host, block))
    learned = 0
    for peer_block, hop in zip(peer_blocks, next_hops):
        route = by_dest.get(peer_block)
        want = 'via %s dev %s%s' % (hop['address'], hop['dev'], ' onlink' if hop['onlink'] else '')
        if not route:
            failures.append('%s: no proto bird route to %s (%s), want %s' % (host, peer_block, hop['peer'], want))
            continue
        got = 'via %s dev %s%s' % (route.get('gateway'), route.get('dev'),
                                   ' onlink' if 'onlink' in route.get('flags', []) else '')
        if not check_devices:
            want, got = 'via %s' % hop['address'], 'via %s' % route.get('gateway')
        if got != want:
            failures.append('%s: route to %s (%s) is %s, want %s' % (host, peer_block, hop['peer'], got, want))
            continue
        learned += 1
    return learned


def bird_report(plan, protocols_by_host, routes_by_host, route_reflectors=None, cluster_id='244.0.0.1',
                as_number=64512, check_devices=True):
    """Judge BGP on every host: each session it should have (both families) is Established, and each
    peer block is in its kernel as a ``proto bird`` route via the peer - the right way (plain or tunl0
    onlink) when check_devices, which needs a plan made for the lab's mode - its own blocks ``proto
    bird`` blackholes. ``protocols_by_host``: output of ``birdc show protocols``; ``routes_by_host``:
    a JSON list of the ``proto bird`` routes (``ip -j -4`` and ``ip -j -6 route show proto bird``)."""
    lines, failures = [], []
    for host in sorted(protocols_by_host):
        try:
            config = _bird_config(plan, host, route_reflectors, cluster_id, as_number)
        except LabError as exc:
            raise AnsibleFilterError('lab inventory: %s' % exc)
        up = established(parse_show_protocols(protocols_by_host[host] or ''))
        for session in config['sessions']:
            if session['name'] not in up:
                failures.append('%s: BGP session %s (to %s) is not Established'
                                % (host, session['name'], session['peer']))
        routes = _routes(routes_by_host.get(host))
        if routes is None:
            failures.append('%s: could not read its routes' % host)
            continue
        by_dest = dict((route.get('dst'), route) for route in routes)
        learned = 0
        if config['ipv4']:
            learned = _check_routes(host, by_dest, config['block'], config['peer_blocks'], config['next_hops'],
                                    check_devices, failures)
        sessions_up = len([s for s in config['sessions'] if s['name'] in up])
        reflector = ' (route reflector)' if config['route_reflector'] else ''
        if not config['node_ip_v6']:
            lines.append('%s: %d/%d BGP sessions Established%s, %d/%d peer blocks learned (proto bird)'
                         % (host, sessions_up, len(config['sessions']), reflector, learned, len(config['peer_blocks'])))
            continue
        learned_v6 = 0
        if config['block_v6']:
            learned_v6 = _check_routes(host, by_dest, config['block_v6'], config['peer_blocks_v6'],
                                       config['next_hops_v6'], check_devices, failures)
        sessions_v6 = [s for s in config['sessions'] if s['family'] == 'ipv6']
        lines.append('%s: %d/%d BGP sessions Established%s (IPv6 %d/%d), %d/%d peer blocks learned '
                     '(proto bird; IPv6 %d/%d)'
                     % (host, sessions_up, len(config['sessions']), reflector,
                        len([s for s in sessions_v6 if s['name'] in up]), len(sessions_v6),
                        learned + learned_v6, len(config['peer_blocks']) + len(config['peer_blocks_v6']),
                        learned_v6, len(config['peer_blocks_v6'])))
    return {'lines': lines, 'failures': failures}


def bird_established(text):
    """Names of the BGP sessions Established in ``birdc show protocols`` output, sorted."""
    return sorted(established(parse_show_protocols(text or '')))


class FilterModule(object):
    def filters(self):
        return {
            'calico_bird_config': bird_config,
            'calico_bird_report': bird_report,
            'calico_bird_established': bird_established,
        }
