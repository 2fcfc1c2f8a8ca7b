# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Felix's sysctls on a workload interface (the host end of a pod), shared by proxy_arp and calico_veth
(its host_end_sysctls): the paths, Felix's values, and one pass that reads them, compares and writes
what differs (felix/dataplane/linux/endpoint_mgr.go configureInterface, configureProcSysForInterface)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.errors import LabError
from ansible_collections.labnet.calico.plugins.module_utils.sysctl import sysctl_access

# option -> sysctl path (under /proc/sys) for an interface
SETTINGS = {
    'proxy_arp': 'net/ipv4/conf/%s/proxy_arp',
    'proxy_delay': 'net/ipv4/neigh/%s/proxy_delay',
    'forwarding': 'net/ipv4/conf/%s/forwarding',
    'route_localnet': 'net/ipv4/conf/%s/route_localnet',
    'rp_filter': 'net/ipv4/conf/%s/rp_filter',
    'accept_ra': 'net/ipv6/conf/%s/accept_ra',
}
# Felix's values: proxy_arp's option defaults, and what calico_veth's host_end_sysctls writes.
FELIX_VALUES = {'proxy_arp': True, 'proxy_delay': 0, 'forwarding': True, 'route_localnet': True,
                'rp_filter': 'default', 'accept_ra': 0}
# The IPv4 ones; the CNI plugin writes them only for a pod with IPv4 (configureSysctls, hasIPv4, in
# cni-plugin/pkg/dataplane/linux/dataplane_linux.go). accept_ra is written on every workload interface.
IPV4_SETTINGS = ('proxy_arp', 'proxy_delay', 'forwarding', 'route_localnet', 'rp_filter')
IP_FORWARD = 'net/ipv4/ip_forward'
IP6_FORWARD = 'net/ipv6/conf/all/forwarding'
# ipv6: true -> these values on the interface (the host end of a pod with IPv6).
SETTINGS_V6 = {
    'net/ipv6/conf/%s/disable_ipv6': '0',
    'net/ipv6/conf/%s/accept_dad': '0',
    'net/ipv6/conf/%s/proxy_ndp': '1',
    'net/ipv6/conf/%s/forwarding': '1',
}
# rp_filter: default copies this value of the same namespace (felix/dataplane/linux/int_dataplane.go).
RP_FILTER_DEFAULT = 'net/ipv4/conf/default/rp_filter'
COPY_DEFAULT = 'default'
# Present only where the kernel has IPv6; accept_ra is skipped elsewhere, as Felix skips it.
IPV6_PRESENT = 'net/ipv6/conf/all/accept_ra'


def sysctl_value(option, value, field):
    if isinstance(value, bool):
        return '1' if value else '0'
    if option == 'rp_filter':
        if str(value).strip() == COPY_DEFAULT:
            return COPY_DEFAULT
        if str(value).strip() not in ('0', '1', '2'):
            raise LabError('%s: %r is not 0, 1, 2 or default' % (field, value))
        return str(value).strip()
    if option == 'accept_ra':
        if str(value).strip() not in ('0', '1', '2'):
            raise LabError('%s: %r is not 0, 1 or 2' % (field, value))
        return str(value).strip()
    if option == 'proxy_delay':
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise LabError('%s: %r is not a number' % (field, value))
        if number < 0:
            raise LabError('%s: must not be negative' % field)
        return str(number)
    lowered = str(value).lower()
    if lowered in ('1', 'true', 'yes', 'on'):
        return '1'
    if lowered in ('0', 'false', 'no', 'off'):
        return '0'
    raise LabError('%s: %r is not a boolean' % (field, value))


def interface_values(name, options, ipv6=False):
    """{sysctl path: value} for interface NAME: OPTIONS maps option -> value (None leaves it alone);
    IPV6 adds the IPv6 settings of a workload interface."""
    values = {}
    for option, path in SETTINGS.items():
        if options.get(option) is not None:
            values[path % name] = sysctl_value(option, options[option], option)
    if ipv6:
        values.update((path % name, value) for path, value in SETTINGS_V6.items())
    return values


def host_end_values(name, ipv4=True, ipv6=False):
    """Felix's values on a pod's host end: the IPv4 ones for a pod with IPv4, accept_ra always, the IPv6
    ones for a pod with IPv6 (what proxy_arp's defaults, with ipv6 for a pod with ip6, write)."""
    options = dict((k, v) for k, v in FELIX_VALUES.items() if ipv4 or k not in IPV4_SETTINGS)
    return interface_values(name, options, ipv6)


def same_value(path, current, wanted):
    # The kernel keeps proxy_delay in jiffies, so a value in 1/100 s may read back one lower.
    if path.endswith('/proxy_delay'):
        return 0 <= int(wanted) - int(current) <= 1
    return current == wanted


def label(netns, path):
    return '[%s] %s' % (netns, path) if netns else path


def resolve(wanted, current, netns=None):
    """Replace 'default' rp_filter values by the namespace's default; drop accept_ra without IPv6, and
    refuse the IPv6 settings asked for by ipv6 or ip6_forward there."""
    resolved = {}
    for path, value in wanted.items():
        if path.startswith('net/ipv6/') and current.get(IPV6_PRESENT) is None:
            if path == IP6_FORWARD or not path.endswith('/accept_ra'):
                raise LabError('%s: the kernel of %s has no IPv6 (no /proc/sys/net/ipv6)' % (
                    'ip6_forward' if path == IP6_FORWARD else 'ipv6', 'namespace %s' % netns if netns else 'this host'))
            continue
        resolved[path] = current.get(RP_FILTER_DEFAULT) if value == COPY_DEFAULT else value
    return resolved


def plan_interface_sysctls(module, wanted):
    """WANTED is {netns: {path: value}}: read each namespace's values once, resolve them, and return
    (before, after, writes) - before/after by label(netns, path), writes {netns: {path: value}}.
    A missing interface fails, but in check mode, where an earlier step would have made it."""
    before, after, writes = {}, {}, {}
    for netns in sorted(wanted, key=lambda ns: ns or ''):
        current = sysctl_access(module, netns, sorted(set(wanted[netns]) | set([RP_FILTER_DEFAULT, IPV6_PRESENT])))
        values = resolve(wanted[netns], current, netns)
        missing = sorted(path for path in values if current.get(path) is None)
        if missing and not module.check_mode:
            raise LabError('interfaces: no such interface in %s: %s' % (
                'namespace %s' % netns if netns else 'this host',
                ', '.join(sorted(set(path.split('/')[3] for path in missing if path not in (IP_FORWARD, IP6_FORWARD))))))
        for path, value in values.items():
            before[label(netns, path)] = current.get(path)
            after[label(netns, path)] = value
            if current.get(path) is None or not same_value(path, current[path], value):
                writes.setdefault(netns, {})[path] = value
    return before, after, writes


def write_interface_sysctls(module, writes):
    """Write what plan_interface_sysctls found different (nothing in check mode)."""
    if not module.check_mode:
        for netns, values in writes.items():
            sysctl_access(module, netns, [], values)
