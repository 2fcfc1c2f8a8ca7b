# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's neighbour tables (ARP for IPv4, NDP for IPv6) are one per machine, shared by every network
namespace, and their limits (net.ipv4.neigh.default.gc_thresh1-3, the same under ipv6) exist only in the
root namespace. A netns lab of N hosts on one switch, in a BGP full mesh, needs about N*(N-1) entries
(every host resolves every other), plus one per pod (its 169.254.1.1 gateway): 100 hosts need ~10,000,
and Debian's default gc_thresh3 of 1024 makes the kernel refuse new entries ("neighbor table overflow";
connect() gets ENOBUFS) so that half the mesh never comes up. Real Calico nodes each have their own table
(large clusters raise gc_thresh there for the same reason); the lab's hosts share this machine's, so the
netns provider raises the limits when a lab needs more, saves what they were, and puts them back once
no host of a lab that needed them is left (each value only if nobody changed it since)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.labnet.calico.plugins.module_utils.sysctl import sysctl_access

SAVED = '/run/labnet-calico-neigh-limits.json'
FAMILIES = ('ipv4', 'ipv6')
THRESHOLDS = ('gc_thresh1', 'gc_thresh2', 'gc_thresh3')


def key(family, threshold):
    return 'net/%s/neigh/default/%s' % (family, threshold)


def entries_needed(plan):
    """{family: neighbour entries the lab may hold at once}: every host of a switch resolves every other
    (and its router leg), the router each host, each pod given its gateway."""
    needed = dict.fromkeys(FAMILIES, len(plan['pods']))
    for segment in plan['segments']:
        members = [host for host in plan['hosts'] if host['name'] in segment['hosts']]
        leg = 1 if segment.get('router_leg') else 0
        for family, count in (('ipv4', len(members)), ('ipv6', sum(1 for h in members if h.get('address6')))):
            if count:
                needed[family] += (count + leg) * (count + leg - 1)
    return needed


def wanted_limits(needed, current):
    """{key: value} to write: gc_thresh2 (where the kernel starts evicting) at least what the lab needs,
    gc_thresh3 (the hard limit) twice that, for other labs and the kernel's own entries. Never lowered."""
    writes = {}
    for family, count in needed.items():
        for threshold, value in (('gc_thresh2', count), ('gc_thresh3', 2 * count)):
            name = key(family, threshold)
            if current.get(name) is not None and int(current[name]) < value:
                writes[name] = str(value)
    return writes


def read_saved():
    try:
        with open(SAVED) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def write_saved(saved):
    with open(SAVED + '.tmp', 'w') as handle:
        json.dump(saved, handle, sort_keys=True)
    os.rename(SAVED + '.tmp', SAVED)


def current_limits(module):
    return sysctl_access(module, None, [key(f, t) for f in FAMILIES for t in THRESHOLDS])


def raise_for(module, plan):
    """Raise the limits the lab of PLAN needs. Returns the commands (as `sysctl -w` lines) it ran or, in check
    mode, would run; records the lab's hosts as needing the raised limits."""
    current = current_limits(module)
    writes = wanted_limits(entries_needed(plan), current)
    saved = read_saved()
    hosts = set(host['netns'] for host in plan['hosts'])
    commands = sorted('sysctl -w %s=%s' % (k.replace('/', '.'), v) for k, v in writes.items())
    needs_record = writes or (saved is not None and not hosts <= set(saved.get('hosts', [])))
    if module.check_mode or not needs_record:
        return commands
    if saved is None:
        saved = {'original': {}, 'set': {}, 'hosts': []}
    for name in writes:
        saved['original'].setdefault(name, current[name])
    saved['set'].update(writes)
    saved['hosts'] = sorted(set(saved.get('hosts', [])) | hosts)
    write_saved(saved)
    sysctl_access(module, None, [], writes)
    return commands


def restore_after(module, removed):
    """The host namespaces REMOVED are gone: when no namespace of a lab that needed the raised limits is left
    (labs of any name, also other runs'), put back the values they had before, each only if it still holds
    what the lab set. Returns the commands run (or due in check mode)."""
    saved = read_saved()
    if saved is None:
        return []
    left = [name for name in saved.get('hosts', []) if name not in removed and os.path.exists('/run/netns/' + name)]
    writes = {}
    if not left:
        current = current_limits(module)
        writes = dict((name, value) for name, value in saved['original'].items()
                      if current.get(name) == saved['set'].get(name))
    commands = sorted('sysctl -w %s=%s' % (k.replace('/', '.'), v) for k, v in writes.items())
    if module.check_mode:
        return commands
    if left:
        if left != saved.get('hosts'):
            saved['hosts'] = left
            write_saved(saved)
        return commands
    # gc_thresh2 first: the soft limit goes down before the hard one.
    for name in sorted(writes, key=lambda n: n.endswith('gc_thresh3')):
        sysctl_access(module, None, [], {name: writes[name]})
    os.unlink(SAVED)
    return commands
