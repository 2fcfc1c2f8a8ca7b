# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_veth's planning: what a workload's veth pair looks like, the changes that make it as wanted
(both ends, the pod's IPv4 /32 and IPv6 /128), and which pairs the module made are no longer wanted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LAB_ALIAS_PREFIX, Change, LabError, is_kernel_fallback, is_lab_alias, lab_alias, workload_host_ifname,
)
from ansible_collections.labnet.calico.plugins.module_utils.workload import foreign_pod_link


def describe(spec, host_link, pod_link):
    """One diff line: what the pair looks like (None when it does not exist)."""
    if host_link is None:
        return None
    pod = 'missing'
    if pod_link is not None:
        pod = '%s %s mtu %s %s' % (pod_link['name'], ','.join(pod_link['addresses'] + pod_link['addresses6']) or '-',
                                   pod_link['mtu'], 'up' if pod_link['up'] else 'down')
    return '%s: %s %s mtu %s %s <-> [%s] %s' % (
        spec['workload'], host_link['name'], host_link['mac'], host_link['mtu'],
        'up' if host_link['up'] else 'down', spec['netns'], pod)


def is_peer(host_link, pod_link):
    """The pod link is the other end of the host link (each names the other's ifindex)."""
    return (pod_link is not None and host_link.get('kind') == 'veth' and pod_link.get('kind') == 'veth'
            and host_link.get('peer_index') == pod_link.get('index')
            and pod_link.get('peer_index') == host_link.get('index'))


class VethPlanner:
    """Reads each namespace once. WITH_ROUTES: the same read also takes its routes (routes_read), for
    calico_veth's pod_routes - one ``ip`` process per pod for links and routes of both families."""

    def __init__(self, iproute, with_routes=False):
        self.iproute = iproute
        self.with_routes = with_routes
        self.routes_read = {}  # netns (None: the host) -> {(table, family): [route]}
        self.namespaces = iproute.netns_names()
        self.host_links = self.read(None)
        self.pod_links_cache = {}

    def read(self, netns):
        if not self.with_routes:
            return self.iproute.links(netns=netns)
        links, self.routes_read[netns] = self.iproute.links_and_routes(netns=netns)
        return links

    def pod_links(self, netns):
        if netns not in self.namespaces:
            return {}
        if netns not in self.pod_links_cache:
            self.pod_links_cache[netns] = self.read(netns)
        return self.pod_links_cache[netns]

    def forget(self, host_link, netns):
        """A pair that is being removed: its host end, and its pod end in NETNS, are planned as gone."""
        self.host_links.pop(host_link['name'], None)
        if netns:
            pod_links = self.pod_links(netns)
            for name in [n for n, pod_link in pod_links.items() if is_peer(host_link, pod_link)]:
                del pod_links[name]

    def check_owned(self, spec, host_link):
        if host_link is not None and not is_lab_alias(host_link['alias']):
            raise LabError('%s: link %s exists and was not made by this lab (its alias is %r); '
                           'refusing to change it' % (spec['workload'], spec['host_ifname'], host_link['alias']))

    def plan(self, spec):
        """Changes for one workload: (namespace changes, host changes, pod changes, before, after)."""
        host_link = self.host_links.get(spec['host_ifname'])
        pod_link = self.pod_links(spec['netns']).get(spec['pod_ifname'])
        self.check_owned(spec, host_link)
        before = describe(spec, host_link, pod_link if host_link and is_peer(host_link, pod_link) else None)
        ns_changes, host_changes, pod_changes = [], [], []

        if spec['state'] == 'absent':
            if host_link is not None:
                host_changes.append(Change(None, ['link', 'del', spec['host_ifname']]))
            if spec['delete_netns'] and spec['netns'] in self.namespaces:
                ns_changes.append(Change(None, ['netns', 'del', spec['netns']]))
            return ns_changes, host_changes, pod_changes, before, None

        if spec['netns'] not in self.namespaces:
            ns_changes.append(Change(None, ['netns', 'add', spec['netns']]))
            pod_changes.append(Change(spec['netns'], ['link', 'set', 'lo', 'up']))
        elif not self.pod_links(spec['netns']).get('lo', {}).get('up', True):
            pod_changes.append(Change(spec['netns'], ['link', 'set', 'lo', 'up']))

        created = host_link is None or not is_peer(host_link, pod_link)
        if created:
            if pod_link is not None and (host_link is None or not is_peer(host_link, pod_link)):
                raise LabError(foreign_pod_link(spec, host_link, pod_link))
            if host_link is not None:  # ours, but its peer is gone or elsewhere: make it again
                host_changes.append(Change(None, ['link', 'del', spec['host_ifname']]))
            # The MAC goes in with the link: a MAC set afterwards races systemd-udev, whose
            # MACAddressPolicy=persistent replaces the kernel's random MAC of a new device.
            host_changes.append(Change(None, ['link', 'add', spec['host_ifname'], 'address', spec['mac'],
                                              'type', 'veth', 'peer', 'name', spec['pod_ifname'],
                                              'netns', spec['netns']]))
            host_link = {'mac': spec['mac'], 'mtu': None, 'up': False, 'alias': ''}
            pod_link = {'mtu': None, 'up': False, 'addresses': [], 'addresses6': []}

        host_ifname, pod_ifname, netns = spec['host_ifname'], spec['pod_ifname'], spec['netns']
        if host_link['mac'] != spec['mac']:
            host_changes.append(Change(None, ['link', 'set', 'dev', host_ifname, 'address', spec['mac']]))
        if host_link['alias'] != lab_alias(spec['workload']):
            host_changes.append(Change(None, ['link', 'set', 'dev', host_ifname, 'alias',
                                              lab_alias(spec['workload'])]))
        if spec['mtu'] is not None and host_link['mtu'] != spec['mtu']:
            host_changes.append(Change(None, ['link', 'set', 'dev', host_ifname, 'mtu', spec['mtu']]))
        if not host_link['up']:
            host_changes.append(Change(None, ['link', 'set', 'dev', host_ifname, 'up']))

        if spec['mtu'] is not None and pod_link['mtu'] != spec['mtu']:
            pod_changes.append(Change(netns, ['link', 'set', 'dev', pod_ifname, 'mtu', spec['mtu']]))
        if spec['address'] is not None:
            for address in pod_link['addresses']:
                if address != spec['address']:
                    pod_changes.append(Change(netns, ['addr', 'del', address, 'dev', pod_ifname]))
            if spec['address'] not in pod_link['addresses']:
                pod_changes.append(Change(netns, ['addr', 'add', spec['address'], 'dev', pod_ifname]))
        if spec['address6'] is not None:
            for address in pod_link['addresses6']:
                if address != spec['address6']:
                    pod_changes.append(Change(netns, ['addr', 'del', address, 'dev', pod_ifname]))
            if spec['address6'] not in pod_link['addresses6']:
                # nodad: usable at once, as with the CNI plugin's accept_dad=0 before the link is up.
                pod_changes.append(Change(netns, ['addr', 'add', spec['address6'], 'dev', pod_ifname, 'nodad']))
        if not pod_link['up']:
            pod_changes.append(Change(netns, ['link', 'set', 'dev', pod_ifname, 'up']))

        after_host = {'name': host_ifname, 'mac': spec['mac'], 'mtu': spec['mtu'] or host_link['mtu'] or 1500,
                      'up': True}
        after_pod = {'name': pod_ifname, 'mtu': spec['mtu'] or pod_link['mtu'] or 1500, 'up': True,
                     'addresses': [spec['address']] if spec['address'] else pod_link['addresses'],
                     'addresses6': [spec['address6']] if spec['address6'] else pod_link['addresses6']}
        return ns_changes, host_changes, pod_changes, before, describe(spec, after_host, after_pod)


def stale_pairs(iproute, planner, wanted):
    """Pairs this module made for workloads that are not wanted: (workload, host link, netns or None)."""
    wanted_ids = set(spec['workload'] for spec in wanted)
    names_by_id = iproute.netns_by_id()
    stale = []
    for link in planner.host_links.values():
        if link['kind'] != 'veth' or not link['alias'].startswith(LAB_ALIAS_PREFIX + ':'):
            continue
        workload = link['alias'][len(LAB_ALIAS_PREFIX) + 1:]
        # Only a pair named as this module names it: never an underlay link or one named by hand.
        if workload in wanted_ids or link['name'] != workload_host_ifname(workload):
            continue
        stale.append((workload, link, names_by_id.get(link['peer_netnsid'])))
    return sorted(stale, key=lambda item: item[0])


def purge_changes(iproute, planner, wanted):
    """Changes that remove the stale pairs, and the namespaces that held nothing else. A namespace that a
    listed workload uses is left to it (a pair renamed, e.g. by a new workload id, is made again in it); the
    planner forgets the stale pairs so that the wanted ones are planned as if they were gone already."""
    host_changes, ns_changes, before, purged, kept = [], [], [], [], []
    in_use = set(spec['netns'] for spec in wanted)  # kept, or deleted by the workload's own delete_netns
    for workload, link, netns in stale_pairs(iproute, planner, wanted):
        host_changes.append(Change(None, ['link', 'del', link['name']]))
        before.append('%s: %s (no longer wanted) <-> [%s]' % (workload, link['name'], netns or '?'))
        purged.append(workload)
        planner.forget(link, netns)
        if not netns or netns in in_use:
            continue
        # lo and the kernel's fallback tunnels (tunl0 appears in every namespace once ipip is loaded)
        # are no reason to keep a namespace; anything else in it is somebody's.
        others = [name for name, pod_link in planner.pod_links(netns).items()
                  if name != 'lo' and not is_kernel_fallback(pod_link) and not is_peer(link, pod_link)]
        if others or iproute.netns_pids(netns):
            kept.append(netns)
        else:
            ns_changes.append(Change(None, ['netns', 'del', netns]))
    return host_changes, ns_changes, before, purged, kept
