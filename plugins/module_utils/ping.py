# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded pings from a pod's network namespace, shared by pod_ping and pod_capture."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import re

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, run_argv

_SUMMARY_RE = re.compile(r'(\d+) packets transmitted, (\d+) (?:packets )?received')
_TTL_RE = re.compile(r'ttl=(\d+)')
_RTT_RE = re.compile(r'rtt min/avg/max/mdev = [\d.]+/([\d.]+)/')

# How a pod's packets can cross the underlay (pod_capture's words, and its judge's in verify).
ENCAPSULATION_NAMES = {'none': 'plain', 'ipip': 'IP-in-IP', 'vxlan': 'VXLAN'}

# option: (lowest, highest) - every ping is bounded in count and time.
PING_LIMITS = {'count': (1, 20), 'deadline': (1, 30)}
MIN_INTERVAL = 0.2


def ping_argument_spec(count):
    """The count, interval and deadline options of a module that pings, COUNT requests by default."""
    return dict(count=dict(type='int', default=count), interval=dict(type='float', default=MIN_INTERVAL),
                deadline=dict(type='int', default=5))


def check_ping_options(params):
    """Refuse counts, deadlines and intervals outside the bounds, naming the option."""
    for option, (low, high) in sorted(PING_LIMITS.items()):
        if not low <= params[option] <= high:
            raise LabError('%s: %d is outside %d-%d' % (option, params[option], low, high))
    if params['interval'] < MIN_INTERVAL:
        raise LabError('interval: at least %s seconds' % MIN_INTERVAL)


def parse_ping(output):
    """Sent, received, the TTL of the last reply and the average RTT from ping's output."""
    summary = _SUMMARY_RE.search(output)
    ttls = _TTL_RE.findall(output)
    rtt = _RTT_RE.search(output)
    return {
        'sent': int(summary.group(1)) if summary else 0,
        'received': int(summary.group(2)) if summary else 0,
        'ttl': int(ttls[-1]) if ttls else None,
        'rtt_avg_ms': float(rtt.group(1)) if rtt else None,
    }


def ping_from_netns(module, netns, address, count, interval, deadline, pattern=None):
    """Ping ADDRESS from inside NETNS; parse_ping's fields plus 'error' when nothing came back.

    pattern: bytes to fill the echo data with (up to 16), so that these packets can be told apart.
    """
    ip = module.get_bin_path('ip', required=True)
    ping = module.get_bin_path('ping', required=True)
    argv = [ip, 'netns', 'exec', netns, ping, '-n', '-c', str(count), '-i', str(interval),
            '-W', '1', '-w', str(deadline)] + (['-p', binascii.hexlify(pattern).decode()] if pattern else []) + [address]
    _rc, out, err = run_argv(module, argv, check_rc=False)
    result = parse_ping(out)
    if result['received'] == 0:
        result['error'] = (err or out).strip().splitlines()[-1:] or ['no reply']
    return result
