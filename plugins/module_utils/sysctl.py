# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sysctls under /proc/sys, on the host or inside named network namespaces (proxy_arp, calico_veth's
pod settings, netns_lab's forwarding)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, check_netns

# Runs as one process for any number of namespaces: it enters each /run/netns/NAME in turn (setns),
# so that /proc/sys/net is that namespace's, and a host's pods cost one Python start, not one each.
_SYSCTL_MANY_HELPER = r'''
import ctypes, ctypes.util, json, os, sys
def enter(name):
    fd = os.open('/run/netns/' + name, os.O_RDONLY)
    try:
        if hasattr(os, 'setns'):
            os.setns(fd, 0x40000000)
        elif ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True).setns(fd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), 'setns %s' % name)
    finally:
        os.close(fd)
answers = {}
for netns, request in sorted(json.loads(sys.argv[1]).items()):
    enter(netns)
    for key, value in sorted(request['write'].items()):
        with open('/proc/sys/' + key, 'w') as handle:
            handle.write(str(value))
    values = answers[netns] = {}
    for key in request['read']:
        try:
            with open('/proc/sys/' + key) as handle:
                values[key] = handle.read().strip()
        except (IOError, OSError):
            values[key] = None
print(json.dumps(answers))
'''


def _check_sysctl_keys(keys):
    for key in keys:
        if '..' in key.split('/') or key.startswith('/'):
            raise LabError('invalid sysctl path %r' % key)


def sysctl_access_many(module, requests):
    """sysctl_access for many namespaces in one process: REQUESTS is {netns: (read_keys, write_values)};
    returns {netns: {key: value}}. Nothing runs when REQUESTS is empty."""
    if not requests:
        return {}
    payload = {}
    for netns, (read_keys, write_values) in requests.items():
        check_netns(netns, 'netns')
        _check_sysctl_keys(list(read_keys) + list(write_values or {}))
        payload[netns] = {'read': list(read_keys), 'write': dict(write_values or {})}
    rc, out, err = module.run_command([sys.executable, '-c', _SYSCTL_MANY_HELPER, json.dumps(payload)],
                                      environ_update={'LC_ALL': 'C', 'LANG': 'C'})
    if rc != 0:
        raise LabError('sysctls in network namespaces %s failed: %s' % (', '.join(sorted(requests)), (err or out).strip()))
    return json.loads(out)


def sysctl_access(module, netns, read_keys, write_values=None):
    """Write ``write_values`` (key -> value), then read ``read_keys``; keys are paths under /proc/sys.

    Missing keys read as None. On the module's own namespace this is plain file access.
    """
    write_values = write_values or {}
    _check_sysctl_keys(list(read_keys) + list(write_values))
    if netns is None:
        for key, value in sorted(write_values.items()):
            with open('/proc/sys/' + key, 'w') as handle:
                handle.write(str(value))
        values = {}
        for key in read_keys:
            path = '/proc/sys/' + key
            values[key] = open(path).read().strip() if os.path.exists(path) else None
        return values
    return sysctl_access_many(module, {netns: (read_keys, write_values)})[netns]
