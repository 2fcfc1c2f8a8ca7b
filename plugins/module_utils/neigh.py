# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Permanent neighbour entries: what to set and delete so a device's table is as wanted. Shared by
calico_neigh and calico_veth's gateway_neighbour."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.iproute import Change


def plan_entries(current, wanted, present, purge):
    """Entries to set and to delete, and the table afterwards; tables map a key to a value."""
    to_set = dict((k, v) for k, v in wanted.items() if present and current.get(k) != v)
    to_delete = sorted(k for k in current if (not present and k in wanted) or (present and purge and k not in wanted))
    after = dict((k, v) for k, v in current.items() if k not in to_delete)
    after.update(wanted if present else {})
    return to_set, to_delete, after


def neighbour_changes(iproute, neighbours, present=True, purge=False, exists=None):
    """NEIGHBOURS is {(netns, dev, address): lladdr}: one read per (netns, dev), and the changes, before
    and after lines. EXISTS(netns) false (a namespace that check mode has not made) reads as empty."""
    changes, before, after = [], [], []
    for netns, dev in sorted(set((k[0], k[1]) for k in neighbours), key=lambda k: (k[0] or '', k[1])):
        current = {}
        if exists is None or exists(netns):
            current = dict((n['dst'], (n.get('lladdr') or '').lower()) for n in
                           iproute.query(['neigh', 'show', 'dev', dev], netns=netns)
                           if 'PERMANENT' in (n.get('state') or []))
        wanted = dict((k[2], mac) for k, mac in neighbours.items() if k[:2] == (netns, dev))
        to_set, to_delete, result = plan_entries(current, wanted, present, purge)
        changes.extend(Change(netns, ['neigh', 'replace', a, 'lladdr', m, 'dev', dev, 'nud', 'permanent'])
                       for a, m in sorted(to_set.items()))
        changes.extend(Change(netns, ['neigh', 'del', a, 'dev', dev]) for a in to_delete)
        label = '[%s] ' % netns if netns else ''
        before.extend('%sneigh %s lladdr %s dev %s' % (label, a, m, dev) for a, m in current.items())
        after.extend('%sneigh %s lladdr %s dev %s' % (label, a, m, dev) for a, m in result.items())
    return changes, before, after
