# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tunnels' MTUs as Felix derives them from the underlay, and whether the kernel has a tunnel driver
(calico_veth, calico_tunnel)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, check_ifname, check_mtu

# Bytes an encapsulation adds to a packet, as Felix subtracts them from the host MTU
# (felix/dataplane/linux/int_dataplane.go ipipMTUOverhead, vxlanMTUOverhead; none for plain BGP).
# vxlan6 is VXLAN over IPv6 (vxlan-v6.calico: vxlanV6MTUOverhead = 70, ConfigureDefaultMTUs sets
# VXLANMTUV6 = hostMTU - 70).
ENCAPSULATION_OVERHEAD = {'none': 0, 'ipip': 20, 'vxlan': 50, 'vxlan6': 70}


def mtu_from_underlay(iproute, dev, encapsulation, field):
    """Felix's MTU for ENCAPSULATION: the MTU of the underlay device DEV less the encapsulation's overhead."""
    if encapsulation not in ENCAPSULATION_OVERHEAD:
        raise LabError('%s: unknown encapsulation %r (use one of %s)'
                       % (field, encapsulation, ', '.join(sorted(ENCAPSULATION_OVERHEAD))))
    underlay = iproute.link(check_ifname(dev, field))
    if underlay is None:
        raise LabError('%s: no device %s on this host' % (field, dev))
    return check_mtu(underlay['mtu'] - ENCAPSULATION_OVERHEAD[encapsulation], field)


def kernel_has_driver(module, name):
    """True when the kernel has ``name`` built in, loaded, or available as a loadable module."""
    if os.path.isdir('/sys/module/%s' % name):
        return True
    modinfo = module.get_bin_path('modinfo')
    if modinfo:
        rc, _out, _err = module.run_command([modinfo, name], environ_update={'LC_ALL': 'C'})
        return rc == 0
    return False
