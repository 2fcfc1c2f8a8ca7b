# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab knows about BIRD 2: the names of its BGP sessions and how to read ``show protocols``.

Used by the lab filters (calico_bird_config names the sessions, calico_bird_report judges them in
verify) and by the calico_bird module, which waits on them - so that all agree on names and states.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
import time

# The lab's BGP sessions are named like Calico's: Mesh_<peer ip> in a full mesh, Node_<peer ip>
# toward (or from) a route reflector. BIRD symbols allow letters, digits and '_': confd replaces the
# dots of an IPv4 address and the colons of an IPv6 one by '_' (Mesh_fd00_91__202), in
# confd/pkg/backends/calico/bgp_processor.go processMeshPeers and buildPeerFromData.
SESSION_PREFIXES = {'mesh': 'Mesh_', 'reflector': 'Node_'}

# A row of `birdc show protocols`: name, protocol, table, state, since (one or two words), info.
_PROTOCOL_ROW = re.compile(
    r'^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>up|down|start|stop|flush|init|\S+)\s+'
    r'(?P<since>\d\S*(?: \d\S*)?)\s*(?P<info>.*)$')


def hash_router_id(node_name):
    """The router id calico-node gives a node with CALICO_ROUTER_ID=hash, the setting for IPv6-only nodes
    (BGP router ids are 4 octets even for IPv6): the first 4 bytes of a SHA-256 of the node name as an
    IPv4 address, the first byte less 32 when above 223 (no multicast or reserved id), as HashToIPv4 in
    confd/pkg/resource/template/util.go, called by populateNodeConfig in confd/pkg/backends/calico/bgp_processor.go."""
    digest = bytearray(hashlib.sha256(node_name.encode('utf-8')).digest()[:4])
    if digest[0] > 223:
        digest[0] -= 32
    return '.'.join(str(byte) for byte in digest)


def session_name(peer_ip, kind='mesh'):
    return SESSION_PREFIXES[kind] + str(peer_ip).replace('.', '_').replace(':', '_')


def parse_show_protocols(text):
    """Rows of ``birdc show protocols`` as dicts (name, proto, table, state, since, info)."""
    rows = []
    for line in text.splitlines():
        line = line.rstrip()
        # Skip the banner ("BIRD 2.0.12 ready.") and the header ("Name Proto Table ...").
        if not line or line.startswith('BIRD ') or line.startswith('Name '):
            continue
        match = _PROTOCOL_ROW.match(line)
        if match:
            rows.append(match.groupdict())
    return rows


def established(rows):
    """Names of the BGP sessions that are up and Established."""
    return set(row['name'] for row in rows
               if row['proto'] == 'BGP' and row['state'] == 'up' and row['info'].startswith('Established'))


# The lab's prefixes in its own configuration, both families: its blocks (static blackholes) and
# the peers' blocks (labnet_peer_blocks, labnet_peer_blocks_v6).
_BLOCK_ROUTE = re.compile(r'^\s*route\s+([0-9A-Fa-f.:]+/\d+)\s+blackhole;', re.M)
_PEER_BLOCKS = re.compile(r'^define labnet_peer_blocks(?:_v6)? = \[([^\]]*)\];', re.M)


def lab_prefixes(config_text):
    """The prefixes the lab's BIRD puts in the kernel, read from the configuration the lab wrote.

    The kernel protocol keeps its routes when BIRD exits (``persist``, as in calico-node); a clean
    stop by the lab removes the routes to these prefixes, and no other route of ``proto bird``."""
    found = _BLOCK_ROUTE.findall(config_text or '')
    for listed in _PEER_BLOCKS.findall(config_text or ''):
        found.extend(item.strip() for item in listed.split(',') if item.strip())
    return sorted(set(found))


def missing_sessions(rows, sessions):
    """The sessions of SESSIONS ({'name', 'peer'}) that ROWS do not show Established, each with the
    state BIRD gives it ('start, Active Socket: Connection refused', or 'not configured')."""
    by_name = dict((row['name'], row) for row in rows)
    up = established(rows)
    missing = []
    for session in sessions:
        if session['name'] in up:
            continue
        row = by_name.get(session['name'])
        info = ' '.join(row['info'].split()) if row else ''
        state = '%s, %s' % (row['state'], info) if info else row['state'] if row else 'not configured'
        missing.append('%s to %s (%s)' % (session['name'], session.get('peer') or '?', state))
    return missing


def wait_message(timeout, sessions_missing, routes_missing, socket, log):
    """The one message a BGP wait ends in when the topology is not up after TIMEOUT seconds."""
    parts = []
    if sessions_missing:
        parts.append('BGP sessions not Established after %d s: %s' % (timeout, '; '.join(sessions_missing)))
    if routes_missing:
        parts.append('peer blocks not in the kernel as proto bird after %d s: %s' % (timeout, ', '.join(routes_missing)))
    parts.append("BIRD's log: %s" % log)
    parts.append('next: birdc -s %s show protocols all%s; ip route show proto bird'
                 % (socket, ' ' + sessions_missing[0].split(' ', 1)[0] if sessions_missing else ''))
    return '. '.join(parts)


def wait_for_bgp(read, sessions, routes, timeout, interval=1.0, clock=None, sleep=None):
    """Poll READ() -> (show protocols text or None, [dst of proto bird routes]) until every session of
    SESSIONS is Established and every prefix of ROUTES is there, or TIMEOUT seconds passed.
    Returns (sessions missing, routes missing), both empty on success; one read after the deadline."""
    clock, sleep = clock or time.time, sleep or time.sleep
    deadline = clock() + timeout
    while True:
        text, dsts = read()
        sessions_missing = missing_sessions(parse_show_protocols(text or ''), sessions) if sessions else []
        if text is None and sessions:
            sessions_missing = ['%s to %s (BIRD does not answer)' % (s['name'], s.get('peer') or '?') for s in sessions]
        routes_missing = [route for route in routes if route not in dsts]
        if (not sessions_missing and not routes_missing) or clock() >= deadline:
            return sessions_missing, routes_missing
        sleep(interval)
