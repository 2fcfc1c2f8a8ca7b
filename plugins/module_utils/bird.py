# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab knows about BIRD 2: the names of its BGP sessions and how to read ``show protocols``.

Used by the lab filters: calico_bird_config names the sessions, calico_bird_established is what the
bird role waits on, calico_bird_report judges them in verify - so that all agree on names and states.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The lab's BGP sessions are named like Calico's: Mesh_<peer ip> in a full mesh, Node_<peer ip>
# toward (or from) a route reflector. BIRD symbols allow letters, digits and '_'.
SESSION_PREFIXES = {'mesh': 'Mesh_', 'reflector': 'Node_'}

# A row of `birdc show protocols`: name, protocol, table, state, since (one or two words), info.
_PROTOCOL_ROW = re.compile(
    r'^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>up|down|start|stop|flush|init|\S+)\s+'
    r'(?P<since>\d\S*(?: \d\S*)?)\s*(?P<info>.*)$')


def session_name(peer_ip, kind='mesh'):
    return SESSION_PREFIXES[kind] + str(peer_ip).replace('.', '_')


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


# The lab's prefixes in its own configuration: its block (a static blackhole) and the peers' blocks.
_BLOCK_ROUTE = re.compile(r'^\s*route\s+(\d+\.\d+\.\d+\.\d+/\d+)\s+blackhole;', re.M)
_PEER_BLOCKS = re.compile(r'^define labnet_peer_blocks = \[([^\]]*)\];', re.M)


def lab_prefixes(config_text):
    """The prefixes the lab's BIRD puts in the kernel, read from the configuration the lab wrote.

    The kernel protocol keeps its routes when BIRD exits (``persist``, as in calico-node); a clean
    stop by the lab removes the routes to these prefixes, and no other route of ``proto bird``."""
    found = _BLOCK_ROUTE.findall(config_text or '')
    for listed in _PEER_BLOCKS.findall(config_text or ''):
        found.extend(item.strip() for item in listed.split(',') if item.strip())
    return sorted(set(found))
