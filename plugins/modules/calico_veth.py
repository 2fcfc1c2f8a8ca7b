#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_veth
short_description: Connect a workload network namespace to the host with a Calico-style veth pair
version_added: 0.1.0
description:
  - Creates, repairs or removes the veth pair that Calico's CNI plugin makes for a pod.
  - The host end stays in the namespace the module runs in, named C(cali) plus 11 hex digits of a
    SHA-1 of the workload id, with the MAC C(ee:ee:ee:ee:ee:ee), up and without an address.
  - The pod end is created directly inside the workload's network namespace (created when missing),
    named C(eth0), up, with the pod address as a C(/32) and, for a pod with IPv6 (O(address6)), its IPv6
    address as a C(/128) without duplicate address detection.
  - A wrong MAC, MTU or address, or a link that is down, is repaired. Links the module makes carry
    the interface alias C(labnet.calico:<workload>); a link of the wanted name without that alias is
    never changed or removed.
  - Many workloads can be handled in one call with O(workloads); state is read once per call and
    changes are applied with one C(ip -batch) per namespace.
  - With O(purge), pairs the module made for workloads that are no longer listed are removed too,
    so that a pod taken out of the inventory goes on the next run.
  - As Felix does, it writes a permanent neighbour C(<pod address> lladdr <pod MAC>) on the host end
    (O(static_arp); C(addStaticARPEntry) in C(felix/routetable/route_table.go)) and, as the CNI plugin
    does, sets C(net.ipv4.ip_forward=0) inside the pod (O(pod_ip_forward); C(configureContainerSysctls) in
    C(cni-plugin/pkg/dataplane/linux/dataplane_linux.go)). Both are repaired when they drift.
  - For a pod with O(address6), as the CNI plugin does, IPv6 is enabled inside the pod
    (C(disable_ipv6=0) on all, default and lo), DAD is off on the pod end (C(accept_dad=0), C(disableDAD))
    and C(net.ipv6.conf.all.forwarding) follows O(pod_ip_forward).
  - The MTU can be derived from the underlay device as Felix derives the pod MTU (O(mtu_from),
    O(encapsulation)); a given O(mtu) wins.
  - With O(host_end_sysctls), O(pod_routes) and O(gateway_neighbour), the same run also does what
    M(labnet.calico.proxy_arp), M(labnet.calico.calico_route) and M(labnet.calico.calico_neigh) would do for
    the pods, as Calico's CNI plugin does in one ADD - one module run per host instead of four. Otherwise
    those modules set them.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  workload:
    description:
      - The workload id, e.g. C(default.nginx-1) (Calico's C(<Kubernetes namespace>.<pod>), which the lab's
        roles pass) or the name of the namespace. It names the host end and tags the links. Required unless O(workloads) is given.
    type: str
  netns:
    description:
      - The workload's network namespace. Defaults to the workload id.
    type: str
  host_ifname:
    description:
      - Name of the host end. Defaults to C(cali) plus 11 hex digits of a SHA-1 of the workload id.
    type: str
  pod_ifname:
    description:
      - Name of the pod end inside the namespace.
    type: str
    default: eth0
  mac:
    description:
      - MAC address of the host end. Every Calico host interface uses the same one; proxy ARP answers
        with it.
    type: str
    default: ee:ee:ee:ee:ee:ee
  mtu:
    description:
      - MTU of both ends. Unmanaged when neither O(mtu) nor O(mtu_from) is given (the kernel's default
        is 1500). Wins over O(mtu_from).
    type: int
  mtu_from:
    description:
      - Derive the MTU of every pair without an O(mtu) from this underlay device - its MTU less the
        overhead of O(encapsulation), as Felix computes the pod MTU (C(determinePodMTU),
        C(ConfigureDefaultMTUs) in C(felix/dataplane/linux/int_dataplane.go)). A 1400 underlay gives
        1400, 1380 (IPIP) or 1350 (VXLAN).
    type: str
  encapsulation:
    description: The encapsulation whose overhead O(mtu_from) subtracts - none 0, IPIP 20, VXLAN 50 bytes.
    type: str
    choices: [none, ipip, vxlan]
    default: none
  static_arp:
    description:
      - Keep a permanent neighbour entry for the pod's O(address) with the pod end's MAC on the host end, as
        Felix does; other permanent entries on that host end are removed. V(false) leaves the host end's
        neighbours alone.
    type: bool
    default: true
  pod_ip_forward:
    description:
      - Value of C(net.ipv4.ip_forward) inside the workload's namespace. The CNI plugin sets 0 unless the
        pod is allowed to forward. C(null) leaves it alone.
    type: raw
    default: false
  address:
    description:
      - The pod's IPv4 address, set as a C(/32) on the pod end. Other IPv4 addresses on the pod end are
        removed. Unmanaged when not given.
    type: str
  address6:
    description:
      - The pod's IPv6 address, set as a C(/128) with C(nodad) on the pod end. Other IPv6 addresses on the
        pod end but its link-local one are removed. Unmanaged when not given.
    type: str
  state:
    description:
      - V(present) creates or repairs the pair; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  delete_netns:
    description:
      - With O(state=absent), also delete the workload's network namespace.
    type: bool
    default: false
  purge:
    description:
      - Also remove the pairs this module made for workloads that are not wanted here (not in
        O(workloads), or not O(workload)). They are found by their alias C(labnet.calico:<workload>)
        and their default C(cali) name; a pair given a O(host_ifname) of its own is not found. The
        workload's namespace goes too when nothing but C(lo), the pod end and the kernel's fallback
        tunnels (such as C(tunl0)) is in it and no process runs in it; otherwise it is kept and listed
        in RV(kept_netns).
      - A namespace that a listed workload uses is never deleted by the purge. So a pair whose workload
        id changed (the lab's ids became C(<namespace>.<pod>), Calico's) is removed and made again
        under its new name in the same namespace, in one run.
    type: bool
    default: false
  purge_only:
    description:
      - Do only what O(purge) does; the listed workloads are neither created nor changed (RV(workloads)
        is then empty).
      - Lets a play remove, on every host, the pods that left it before any host creates the pods it
        gained - needed when a pod moves between lab hosts that share the machine's namespaces (the
        netns provider), where the pod's namespace still holds the old host's pair.
    type: bool
    default: false
  host_end_sysctls:
    description:
      - Also Felix's sysctls on the host end of every present pod, as M(labnet.calico.proxy_arp) with its
        defaults writes them - C(proxy_arp=1), C(proxy_delay=0), C(forwarding=1), C(route_localnet=1),
        C(rp_filter) as C(net.ipv4.conf.default.rp_filter) (these for a pod with O(address), or without
        any address given) and C(accept_ra=0); for a pod with O(address6) also C(disable_ipv6=0),
        C(accept_dad=0), C(proxy_ndp=1) and C(forwarding=1) under C(net.ipv6.conf.<host end>). Drift is
        repaired.
    type: bool
    default: false
  pod_routes:
    description:
      - Also every present pod's routes, as the CNI plugin adds them - on the host C(<address> dev <host end>
        scope link) (and C(<address6> dev <host end>)), in the pod C(169.254.1.1 dev eth0 scope link) and
        C(default via 169.254.1.1 dev eth0) (and C(::/0 via fe80::ecee:eeff:feee:eeee dev eth0)), all with
        protocol O(route_proto), through the same planning as M(labnet.calico.calico_route).
      - Routes of protocol O(route_proto) in the main tables of the host and of the pods' namespaces that no
        listed pod needs are removed (both families), as M(labnet.calico.calico_route) with C(purge) does. So
        O(route_proto) must be the pods' own; the lab's peer routes carry another (C(calico_peer_route_proto)).
    type: bool
    default: false
  route_proto:
    description: The protocol (a number 0-255 or a name of C(/etc/iproute2/rt_protos)) of the routes O(pod_routes) makes and purges.
    type: str
    default: '77'
  gateway_neighbour:
    description:
      - Also a permanent neighbour C(169.254.1.1 lladdr <host end's MAC>) on the pod end of every present pod
        with O(address), as the seeds typed it with C(ip neigh) (Calico relies on proxy ARP alone).
    type: bool
    default: false
  workloads:
    description:
      - Many workloads in one call. Each item takes the options above (O(workloads[].workload) is
        required); options given at the top level are defaults for every item.
    type: list
    elements: dict
    suboptions:
      workload:
        description: The workload id.
        type: str
        required: true
      netns:
        description: The workload's network namespace (default the workload id).
        type: str
      host_ifname:
        description: Name of the host end.
        type: str
      pod_ifname:
        description: Name of the pod end.
        type: str
      mac:
        description: MAC of the host end.
        type: str
      mtu:
        description: MTU of both ends.
        type: int
      address:
        description: Pod address (a C(/32)).
        type: str
      address6:
        description: Pod IPv6 address (a C(/128)).
        type: str
      static_arp:
        description: Permanent neighbour for the pod on the host end.
        type: bool
      pod_ip_forward:
        description: C(net.ipv4.ip_forward) inside the pod (a boolean).
        type: raw
      state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
      delete_netns:
        description: Delete the namespace with O(workloads[].state=absent).
        type: bool
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs C(ip) with argument lists and C(LC_ALL=C); needs root (CAP_NET_ADMIN).
seealso:
  - module: labnet.calico.calico_route
  - module: labnet.calico.proxy_arp
'''

EXAMPLES = r'''
- name: One pod, as in the seeds
  labnet.calico.calico_veth:
    workload: netns01
    address: 10.10.0.2

- name: Every pod of this host in one call, MTU from the underlay as Felix derives it (1480 on 1500)
  labnet.calico.calico_veth:
    mtu_from: eth0
    encapsulation: ipip
    workloads:
      - {workload: netns01, address: 10.10.0.2}
      - {workload: netns02, address: 10.10.0.3}

- name: Remove a pod and its namespace
  labnet.calico.calico_veth:
    workload: netns02
    state: absent
    delete_netns: true
'''

RETURN = r'''
workloads:
  description: The state of each workload after the run (what it would be, in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - workload: netns01
      netns: netns01
      host_ifname: cali5d9d6d0b1e8
      pod_ifname: eth0
      address: 10.10.0.2/32
      mtu: 1500
      pod_mac: 5a:0c:31:9e:77:10
      static_arp: true
      pod_ip_forward: false
      state: present
commands:
  description:
    - The C(ip) commands run, or that would run in check mode; there the MAC of a pod end that is not
      made yet shows as C(pod-mac).
  returned: always
  type: list
  elements: str
  sample: ['ip netns add netns01',
           'ip link add cali5d9d6d0b1e8 address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns netns01']
routes:
  description: With O(pod_routes), every pod route after the run (what it would be in check mode).
  returned: when O(pod_routes) is true
  type: list
  elements: str
  sample: ['10.10.0.2/32 dev cali5d9d6d0b1e8 scope link proto 77']
purged_routes:
  description: With O(pod_routes), routes of O(route_proto) that no pod needs, removed (or that would be).
  returned: when O(pod_routes) is true
  type: list
  elements: str
  sample: []
purged:
  description: Workloads whose pairs O(purge) removed (or would remove, in check mode).
  returned: when O(purge) or O(purge_only) is true
  type: list
  elements: str
  sample: [netns05]
kept_netns:
  description: Namespaces of purged workloads that were kept, because something else is in them.
  returned: when O(purge) or O(purge_only) is true
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    exit_with_changes, run_guarded,
    CALICO_HOST_MAC, IPRoute, LabError, check_ifname, check_mac, check_mtu, check_netns, check_workload_id,
    parse_ipv4_interface, parse_ipv6_interface, workload_host_ifname,
)
from ansible_collections.labnet.calico.plugins.module_utils.tunnel_mtu import mtu_from_underlay
from ansible_collections.labnet.calico.plugins.module_utils.veth_plan import VethPlanner, purge_changes
from ansible_collections.labnet.calico.plugins.module_utils.routes import route_protocol_number
from ansible_collections.labnet.calico.plugins.module_utils.workload import (
    gateway_neighbour_changes, host_end_sysctls, pod_ip_forward_value, pod_route_changes, pod_route_wanted,
    pod_sysctls, static_arp_changes,
)

ITEM_OPTIONS = ('workload', 'netns', 'host_ifname', 'pod_ifname', 'mac', 'mtu', 'address', 'address6', 'state',
                'delete_netns', 'static_arp', 'pod_ip_forward')


def wanted_workloads(params):
    """Validate every item before anything changes; return a list of normalised dicts."""
    if params['workloads'] is None:
        if not params['workload']:
            raise LabError('workload: required unless workloads is given')
        items = [dict((key, params[key]) for key in ITEM_OPTIONS)]
        fields = ['']
    else:
        if params['workload']:
            raise LabError('workload: give either workload or workloads, not both')
        items = []
        for item in params['workloads']:
            merged = dict((key, params[key]) for key in ITEM_OPTIONS if key != 'workload')
            merged.update(dict((k, v) for k, v in item.items() if v is not None))
            items.append(merged)
        fields = ['workloads[%d].' % i for i in range(len(items))]

    wanted, seen = [], {}
    for item, field in zip(items, fields):
        workload = check_workload_id(item['workload'], field + 'workload')
        spec = {
            'workload': workload,
            'netns': check_netns(item['netns'] or workload, field + 'netns'),
            'host_ifname': check_ifname(item['host_ifname'] or workload_host_ifname(workload),
                                        field + 'host_ifname'),
            'pod_ifname': check_ifname(item['pod_ifname'] or 'eth0', field + 'pod_ifname'),
            'mac': check_mac(item['mac'] or CALICO_HOST_MAC, field + 'mac'),
            'mtu': check_mtu(item['mtu'], field + 'mtu'),
            'address': None,
            'address6': None,
            'state': item['state'] or 'present',
            'delete_netns': bool(item['delete_netns']),
            'static_arp': item['static_arp'] is not False,
            'pod_ip_forward': pod_ip_forward_value(item['pod_ip_forward'], field + 'pod_ip_forward'),
        }
        if item['address'] is not None:
            address = parse_ipv4_interface(item['address'], field + 'address')
            if address.network.prefixlen != 32:
                raise LabError('%saddress: a workload address is a /32, got %s' % (field, address))
            spec['address'] = str(address)
        if item['address6'] is not None:
            address6 = parse_ipv6_interface(item['address6'], field + 'address6')
            if address6.network.prefixlen != 128:
                raise LabError('%saddress6: a workload IPv6 address is a /128, got %s' % (field, address6))
            spec['address6'] = str(address6)
        for key in ('workload', 'host_ifname', 'netns'):
            if (key, spec[key]) in seen:
                raise LabError('%s%s: %r is also used by %s' % (field, key, spec[key], seen[(key, spec[key])]))
            seen[(key, spec[key])] = field + 'workload'
        wanted.append(spec)
    return wanted


def run_module(module):
    params = module.params
    wanted = wanted_workloads(params)
    folded = not params['purge_only']
    route_proto = route_protocol_number(params['route_proto'], 'route_proto')
    routes = pod_route_wanted(wanted, route_proto) if params['pod_routes'] and folded else None
    iproute = IPRoute(module)
    if module.params['mtu_from'] and not module.params['purge_only']:
        derived = mtu_from_underlay(iproute, module.params['mtu_from'], module.params['encapsulation'], 'mtu_from')
        for spec in wanted:
            spec['mtu'] = derived if spec['mtu'] is None else spec['mtu']
    planner = VethPlanner(iproute, with_routes=routes is not None)
    ns_changes, host_changes, pod_changes = [], [], []
    before, after, results = [], [], []
    extra = {}
    if params['purge'] or params['purge_only']:
        host_changes, pod_changes, before, extra['purged'], extra['kept_netns'] = purge_changes(
            iproute, planner, wanted)
    created = set()
    for spec in [] if module.params['purge_only'] else wanted:
        ns_part, host_part, pod_part, was, will_be = planner.plan(spec)
        if any(change.args[:2] == ['link', 'add'] for change in host_part):
            created.add(spec['workload'])
        # Namespaces are deleted only after their links are gone; created before links go in.
        if spec['state'] == 'absent':
            host_changes.extend(host_part)
            pod_changes.extend(ns_part)
        else:
            ns_changes.extend(ns_part)
            host_changes.extend(host_part)
            pod_changes.extend(pod_part)
        before.extend([was] if was else [])
        after.extend([will_be] if will_be else [])
    changes = ns_changes + host_changes + pod_changes
    iproute.apply(changes)
    if not module.params['purge_only']:
        arp_changes, arp_before, arp_after = static_arp_changes(iproute, planner, wanted, created)
        iproute.apply(arp_changes)
        sysctl_before, sysctl_after = pod_sysctls(module, iproute, planner.namespaces, wanted)
        before.extend(arp_before + sysctl_before)
        after.extend(arp_after + sysctl_after)
    # The folded parts, in the CNI plugin's order: the host end's sysctls (IPv6 on it) before its routes.
    if params['host_end_sysctls'] and folded:
        sysctl_before, sysctl_after = host_end_sysctls(module, iproute, wanted)
        before.extend(sysctl_before)
        after.extend(sysctl_after)
    if routes is not None:
        route_changes, route_before, route_after, extra['routes'], extra['purged_routes'] = pod_route_changes(
            module, iproute, planner, routes, route_proto, bool(changes) and not module.check_mode)
        iproute.apply(route_changes)
        before.extend(route_before)
        after.extend(route_after)
    if params['gateway_neighbour'] and folded:
        neigh_changes, neigh_before, neigh_after = gateway_neighbour_changes(module, iproute, planner.namespaces, wanted)
        iproute.apply(neigh_changes)
        before.extend(neigh_before)
        after.extend(neigh_after)
    shown = ('workload', 'netns', 'host_ifname', 'pod_ifname', 'mac', 'mtu', 'address', 'address6', 'pod_mac',
             'static_arp', 'pod_ip_forward', 'state')
    for spec in [] if module.params['purge_only'] else wanted:
        spec.setdefault('pod_mac', None)
        spec['pod_ip_forward'] = None if spec['pod_ip_forward'] is None else spec['pod_ip_forward'] == '1'
        results.append(dict((k, spec[k]) for k in shown))
    exit_with_changes(module, iproute, before, after, workloads=results, **extra)


def main():
    item_spec = dict(
        workload=dict(type='str', required=True),
        netns=dict(type='str'),
        host_ifname=dict(type='str'),
        pod_ifname=dict(type='str'),
        mac=dict(type='str'),
        mtu=dict(type='int'),
        address=dict(type='str'),
        address6=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent']),
        delete_netns=dict(type='bool'),
        static_arp=dict(type='bool'),
        pod_ip_forward=dict(type='raw'),
    )
    module = AnsibleModule(
        argument_spec=dict(
            workload=dict(type='str'),
            netns=dict(type='str'),
            host_ifname=dict(type='str'),
            pod_ifname=dict(type='str', default='eth0'),
            mac=dict(type='str', default=CALICO_HOST_MAC),
            mtu=dict(type='int'),
            address=dict(type='str'),
            address6=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            delete_netns=dict(type='bool', default=False),
            mtu_from=dict(type='str'),
            encapsulation=dict(type='str', choices=['none', 'ipip', 'vxlan'], default='none'),
            static_arp=dict(type='bool', default=True),
            pod_ip_forward=dict(type='raw', default=False),
            workloads=dict(type='list', elements='dict', options=item_spec),
            purge=dict(type='bool', default=False),
            purge_only=dict(type='bool', default=False),
            host_end_sysctls=dict(type='bool', default=False),
            pod_routes=dict(type='bool', default=False),
            route_proto=dict(type='str', default='77'),
            gateway_neighbour=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('workload', 'workloads')],
        required_one_of=[('workload', 'workloads')],
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
