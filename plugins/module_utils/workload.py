# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Felix and the CNI plugin program for a workload beyond its veth pair (used by calico_veth),
and why calico_veth refuses a pod interface it did not pair.

* Felix's permanent neighbour ``<pod ip> lladdr <pod MAC>`` on the host end
  (felix/routetable/route_table.go addStaticARPEntry, WithStaticARPEntries(true) in int_dataplane.go);
* the CNI plugin's ``net.ipv4.ip_forward`` inside the pod
  (cni-plugin/pkg/dataplane/linux/dataplane_linux.go configureContainerSysctls).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.labnet.calico.plugins.module_utils import dual_stack
from ansible_collections.labnet.calico.plugins.module_utils.iproute import CALICO_GATEWAY, Change, LabError
from ansible_collections.labnet.calico.plugins.module_utils.interface_sysctls import (
    host_end_values, plan_interface_sysctls, write_interface_sysctls,
)
from ansible_collections.labnet.calico.plugins.module_utils.neigh import neighbour_changes
from ansible_collections.labnet.calico.plugins.module_utils.route_plan import plan_routes, wanted_routes
from ansible_collections.labnet.calico.plugins.module_utils.routes import ROUTE_TABLES
from ansible_collections.labnet.calico.plugins.module_utils.sysctl import sysctl_access_many

POD_IP_FORWARD = 'net/ipv4/ip_forward'
POD_IPV6_FORWARD = 'net/ipv6/conf/all/forwarding'
UNKNOWN_MAC = 'pod-mac'  # check mode: the MAC of a pod end that is not made yet


def pod_ip_forward_value(value, field):
    """'0', '1' or None (leave alone), from a boolean."""
    if value is None:
        return None
    try:
        return '1' if boolean(value, strict=True) else '0'
    except TypeError:
        raise LabError('%s: %r is not a boolean' % (field, value))


def static_arp_changes(iproute, planner, wanted, created):
    """Felix's permanent neighbour per pod on the host end: changes, before and after lines.

    Read after the pairs were made, so that a new pod end's MAC is known (in check mode it is not).
    """
    specs = [s for s in wanted if s['state'] == 'present' and s['static_arp'] and s['address']]
    devs = set(s['host_ifname'] for s in specs)
    current = {}
    for entry in iproute.query(['neigh', 'show', 'nud', 'permanent']) if specs else []:
        if entry.get('dev') in devs and 'lladdr' in entry:
            current.setdefault(entry['dev'], {})[entry['dst']] = entry['lladdr'].lower()
    changes, before, after = [], [], []
    for spec in specs:
        dev, address = spec['host_ifname'], spec['address'].split('/')[0]
        if spec['workload'] in created and iproute.module.check_mode:
            mac, entries = UNKNOWN_MAC, {}
        else:
            pod_link = iproute.link(spec['pod_ifname'], netns=spec['netns']) if spec['workload'] in created \
                else planner.pod_links(spec['netns']).get(spec['pod_ifname'])
            mac, entries = (pod_link or {}).get('mac') or UNKNOWN_MAC, current.get(dev, {})
        spec['pod_mac'] = mac
        for old, old_mac in sorted(entries.items()):
            before.append('%s: neigh %s lladdr %s dev %s permanent' % (spec['workload'], old, old_mac, dev))
            if old != address:
                changes.append(Change(None, ['neigh', 'del', old, 'dev', dev]))
        if entries.get(address) != mac:
            changes.append(Change(None, ['neigh', 'replace', address, 'lladdr', mac, 'dev', dev,
                                         'nud', 'permanent']))
        after.append('%s: neigh %s lladdr %s dev %s permanent' % (spec['workload'], address, mac, dev))
    return changes, before, after


def pod_sysctl_values(spec):
    """{sysctl path: value} the CNI plugin writes inside one pod (configureContainerSysctls and, for a
    pod with IPv6, configureContainerSysctls' IPv6 half and disableDAD in
    cni-plugin/pkg/dataplane/linux/dataplane_linux.go): IPv6 on in all/default/lo, DAD off on eth0, and
    IPv6 forwarding as IPv4's. An IPv4-only pod gets exactly ip_forward, as before; a pod with address6 and
    no address (an IPv6-only lab) no ip_forward: the plugin writes it only when the pod has IPv4 (hasIPv4)."""
    values = {}
    if spec['pod_ip_forward'] is not None and (spec.get('address') or not spec.get('address6')):
        values[POD_IP_FORWARD] = spec['pod_ip_forward']
    if spec.get('address6'):
        for conf in ('all', 'default', 'lo'):
            values['net/ipv6/conf/%s/disable_ipv6' % conf] = '0'
        values['net/ipv6/conf/%s/accept_dad' % spec['pod_ifname']] = '0'
        if spec['pod_ip_forward'] is not None:
            values[POD_IPV6_FORWARD] = spec['pod_ip_forward']
    return values


def pod_sysctls(module, iproute, namespaces, wanted):
    """The CNI plugin's sysctls inside each pod: written where they differ; before and after lines.
    One process reads every pod's values and one writes those that differ (not one per pod)."""
    before, after = [], []
    specs = [(s, pod_sysctl_values(s)) for s in wanted if s['state'] == 'present']
    specs = [(s, values) for s, values in specs if values]
    existing = [(s, values) for s, values in specs if s['netns'] in namespaces or not module.check_mode]
    current = sysctl_access_many(module, dict((s['netns'], (sorted(values), None)) for s, values in existing))
    writes = {}
    for spec, values in specs:
        netns = spec['netns']
        for key, value in sorted(values.items()):
            was = current.get(netns, {}).get(key)
            if was is not None:
                before.append('%s: [%s] %s = %s' % (spec['workload'], netns, key, was))
            after.append('%s: [%s] %s = %s' % (spec['workload'], netns, key, value))
            if was != value:
                iproute.done.append('[%s] sysctl %s=%s' % (netns, key.replace('/', '.'), value))
                writes.setdefault(netns, ([], {}))[1][key] = value
    if writes and not module.check_mode:
        sysctl_access_many(module, writes)
    return before, after


def pod_route_items(workload, pod_ifname='eth0'):
    """calico_route items of one pod (WORKLOAD has ip, ip6, host_ifname, netns), as the CNI plugin adds them in
    one ADD: the host's /32 to it, its 169.254.1.1 gateway and default route; for a pod with ip6 also the
    host's /128 and its IPv6 default route ('::/0'; 'default' is IPv4's)."""
    routes = []
    if workload.get('ip'):  # none of it for a pod of an IPv6-only host
        routes.append({'dest': '%s/32' % workload['ip'], 'dev': workload['host_ifname'], 'scope': 'link'})
        routes.append({'dest': CALICO_GATEWAY, 'dev': pod_ifname, 'scope': 'link', 'netns': workload['netns']})
        routes.append({'dest': 'default', 'via': CALICO_GATEWAY, 'dev': pod_ifname, 'netns': workload['netns']})
    return routes + dual_stack.workload_routes_v6(workload, pod_ifname)


def host_end_sysctls(module, iproute, wanted):
    """Felix's sysctls on the host end of every present pod (what proxy_arp writes, in the same run): the
    IPv4 ones for a pod with IPv4 (or no address given), the IPv6 ones for a pod with address6. One read
    of the host's /proc/sys; before and after lines."""
    values = {}
    for spec in wanted:
        if spec['state'] == 'present':
            values.update(host_end_values(spec['host_ifname'], ipv4=bool(spec['address'] or not spec['address6']),
                                          ipv6=bool(spec['address6'])))
    if not values:
        return [], []
    before, after, writes = plan_interface_sysctls(module, {None: values})
    for path, value in sorted(writes.get(None, {}).items()):
        iproute.done.append('sysctl %s=%s' % (path.replace('/', '.'), value))
    write_interface_sysctls(module, writes)
    return (['host end: %s = %s' % kv for kv in before.items() if kv[1] is not None],
            ['host end: %s = %s' % kv for kv in after.items()])


def pod_route_wanted(wanted, proto):
    """Validated routes ([(netns, state, route)]) of every present pod; run before anything changes."""
    items = []
    for spec in wanted:
        if spec['state'] == 'present':
            items.extend(pod_route_items({'ip': (spec['address'] or '').split('/')[0],
                                          'ip6': (spec['address6'] or '').split('/')[0],
                                          'host_ifname': spec['host_ifname'], 'netns': spec['netns']},
                                         spec['pod_ifname']))
    return wanted_routes({'routes': items, 'proto': proto, 'table': 'main', 'netns': None, 'state': 'present'})


def pod_route_changes(module, iproute, planner, routes, proto, links_changed):
    """The changes that make ROUTES (pod_route_wanted's) so; routes of PROTO that no pod wants, here and in the
    pods' namespaces, go. The planner's reads serve unless LINKS_CHANGED (a link that was down lost its
    routes): then they are read again. In check mode a namespace not made yet has no routes."""
    current = {}

    def routes_of(netns, table, family):
        if (netns, table, family) not in current:
            if netns is not None and netns not in planner.namespaces and module.check_mode:
                current[(netns, table, family)] = []
            elif netns in planner.routes_read and not links_changed:
                current[(netns, table, family)] = planner.routes_read[netns].get((table, family), [])
            else:
                current[(netns, table, family)] = iproute.routes(netns=netns, table=table, family=family)
        return current[(netns, table, family)]

    return plan_routes(routes, routes_of, proto, [(None, ROUTE_TABLES['main'])])


def gateway_neighbour_changes(module, iproute, namespaces, wanted):
    """A permanent neighbour 169.254.1.1 lladdr <host end's MAC> on every present pod's eth0, as the seeds
    typed it (Calico answers by proxy ARP alone)."""
    neighbours = dict(((s['netns'], s['pod_ifname'], CALICO_GATEWAY), s['mac']) for s in wanted
                      if s['state'] == 'present' and s['address'])
    return neighbour_changes(iproute, neighbours, exists=lambda netns: netns in namespaces or not module.check_mode)


def foreign_pod_link(spec, host_link, pod_link):
    """Why the lab will not replace a pod's interface it did not pair, and what to do."""
    found = '%s%s' % (pod_link.get('kind') or 'a link of no kind',
                      ' whose peer is ifindex %s' % pod_link['peer_index'] if pod_link.get('peer_index') else '')
    if host_link is None:
        host_end = 'does not exist'
    else:
        host_end = 'is paired with ifindex %s' % host_link.get('peer_index') if host_link.get('kind') == 'veth' else 'is no veth'
    return ('%s: namespace %s already has a %s (%s), but it is not the peer of %s, whose host end %s; refusing to '
            'replace it. Cause: the namespace belongs to something else (another lab or tool with a pod of this '
            'name), or the host end of its veth was deleted by hand. Fix: if nothing else uses it, delete the '
            'namespace on this host (ip netns del %s) and run the playbook again; otherwise rename the pod in '
            'calico_workloads' % (spec['workload'], spec['netns'], spec['pod_ifname'], found, spec['host_ifname'],
                                  host_end, spec['netns']))
