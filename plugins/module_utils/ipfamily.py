# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPv4 and IPv6 side by side: which family a value is, and the facts that differ between them.

Pure functions on text (no ``ip``, no LabError: callers name the field), so that iproute.py and every
module can share them without importing each other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

# The pod's IPv6 gateway: the link-local address that the host end's MAC ee:ee:ee:ee:ee:ee gives
# (cni-plugin/pkg/dataplane/linux/dataplane_linux.go hostSideMACAsIPv6LL = MustMACToIPv6LinkLocal(hostSideMAC)).
CALICO_GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee'
# The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER); IPv4's is 0.
KERNEL_DEFAULT_METRIC = {4: 0, 6: 1024}
DEFAULT_ROUTE = {4: '0.0.0.0/0', 6: '::/0'}
HOST_PREFIX = {4: 32, 6: 128}
# ``ip`` switches that read one family (``ip route`` and ``ip neigh`` read only IPv4 without one).
FAMILY_SWITCH = {4: '-4', 6: '-6'}
FAMILIES = (4, 6)


def family_of(text):
    """4 or 6 for an address, a network or an address with prefix; 'default' is IPv4 as ``ip`` reads it.
    Raises ValueError for anything else."""
    text = str(text).strip()
    if text == 'default':
        return 4
    return ipaddress.ip_network(text, strict=False).version


def network_text(dst, family):
    """What ``ip -j route`` prints as dst ('default', '10.0.0.2', 'fd00::/122') as a compressed network."""
    if dst == 'default':
        return DEFAULT_ROUTE[family]
    if '/' not in dst:
        dst = '%s/%d' % (dst, HOST_PREFIX[family])
    return str(ipaddress.ip_network(dst, strict=False))


def is_link_local(address):
    """True for an IPv6 link-local address (fe80::/10), which needs a device to mean anything."""
    value = ipaddress.ip_address(str(address).split('/', maxsplit=1)[0])
    return value.version == 6 and value.is_link_local
