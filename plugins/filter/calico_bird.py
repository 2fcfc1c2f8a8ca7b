# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BGP between the lab hosts with BIRD: who peers with whom, and whether it worked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.module_utils.bird import (
    established, parse_show_protocols, session_name,
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


def _bird_config(plan, host, route_reflectors, cluster_id, as_number):
    me = plan[host]
    reflectors = _check_reflectors(plan, route_reflectors)
    if not me['peers']:
        raise LabError('%s: a BGP lab needs at least two hosts' % host)
    sessions = []
    for peer in me['peers']:
        if not reflectors:
            kind, rr_client = 'mesh', False
        elif host in reflectors:
            # A reflector peers with everyone: the other reflectors as equals, the rest as its clients.
            kind, rr_client = 'reflector', peer['name'] not in reflectors
        elif peer['name'] in reflectors:
            kind, rr_client = 'reflector', False
        else:
            continue  # two clients never peer with each other
        # Calico's mesh is one-way, so that a graceful restart is not cut short by the peer's own
        # connection: the side with the greater address (compared as strings, as confd's template
        # does) waits. Sessions to and from route reflectors are opened by both sides.
        passive = kind == 'mesh' and str(peer['node_ip']) > str(me['node_ip'])
        sessions.append({'name': session_name(peer['node_ip'], kind), 'peer': peer['name'],
                         'neighbor': peer['node_ip'], 'rr_client': rr_client, 'passive': passive})
    return {
        'router_id': me['node_ip'],
        'as_number': _check_as_number(as_number),
        'route_reflector': host in reflectors,
        'cluster_id': str(parse_ipv4_address(cluster_id, 'calico_route_reflector_cluster_id')),
        'block': me['block'],
        'peer_blocks': [peer['block'] for peer in me['peers']],
        'sessions': sessions,
        # How BIRD reaches each peer's next hop: over the underlay, or into tunl0 (onlink) when the
        # lab encapsulates toward that peer (IPIP always, or cross_subnet to another subnet).
        'next_hops': [{'address': peer['node_ip'], 'peer': peer['name'],
                       'dev': 'tunl0' if peer['encapsulate'] else me['underlay_dev'],
                       'onlink': bool(peer['encapsulate'])} for peer in me['peers']],
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


def bird_report(plan, protocols_by_host, routes_by_host, route_reflectors=None, cluster_id='244.0.0.1',
                as_number=64512, check_devices=True):
    """Judge BGP on every host: each session it should have is Established, and each peer block is
    in its kernel as a ``proto bird`` route via the peer - the right way (plain or tunl0 onlink) when
    check_devices, which needs a plan made for the lab's mode - its own block a ``proto bird``
    blackhole. ``protocols_by_host``: output of ``birdc show protocols``; ``routes_by_host``: output
    of ``ip -j route show proto bird``."""
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
        own = by_dest.get(config['block'])
        if not own or own.get('type') != 'blackhole':
            failures.append('%s: no proto bird blackhole for its own block %s' % (host, config['block']))
        learned = 0
        for block, hop in zip(config['peer_blocks'], config['next_hops']):
            route = by_dest.get(block)
            want = 'via %s dev %s%s' % (hop['address'], hop['dev'], ' onlink' if hop['onlink'] else '')
            if not route:
                failures.append('%s: no proto bird route to %s (%s), want %s' % (host, block, hop['peer'], want))
                continue
            got = 'via %s dev %s%s' % (route.get('gateway'), route.get('dev'),
                                       ' onlink' if 'onlink' in route.get('flags', []) else '')
            if not check_devices:
                want, got = 'via %s' % hop['address'], 'via %s' % route.get('gateway')
            if got != want:
                failures.append('%s: route to %s (%s) is %s, want %s' % (host, block, hop['peer'], got, want))
                continue
            learned += 1
        lines.append('%s: %d/%d BGP sessions Established%s, %d/%d peer blocks learned (proto bird)'
                     % (host, len([s for s in config['sessions'] if s['name'] in up]), len(config['sessions']),
                        ' (route reflector)' if config['route_reflector'] else '', learned,
                        len(config['peer_blocks'])))
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
