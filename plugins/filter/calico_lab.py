# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab plan: per host its block, tunnel address, pods (with addresses and veth names) and peers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    DEFAULT_K8S_NAMESPACE, LabError, check_ifname, check_k8s_namespace, check_netns, parse_ipv4_address,
    parse_ipv4_interface, parse_ipv4_network, workload_host_ifname, workload_id,
)
from ansible_collections.labnet.calico.plugins.module_utils import calico_policy, dual_stack, workload
from ansible_collections.labnet.calico.plugins.module_utils.inventory_check import (
    check_inventory, check_plan, raise_problems,
)
from ansible_collections.labnet.calico.plugins.module_utils.interface_sysctls import IPV4_SETTINGS
from ansible_collections.labnet.calico.plugins.module_utils.ping import ENCAPSULATION_NAMES


def _host_value(hostvars, host, name, default=None):
    value = hostvars[host].get(name, default)
    return default if value is None else value


def _blocks(hostvars, hosts, pool, block_size):
    """Explicit blocks first, then pool blocks for the others, in inventory order."""
    explicit = {}
    for host in hosts:
        cidr = _host_value(hostvars, host, 'calico_pod_cidr')
        if cidr:
            explicit[host] = parse_ipv4_network(cidr, '%s: calico_pod_cidr' % host)
    pool_net = parse_ipv4_network(pool, 'calico_ipam_pool') if pool else None
    return dual_stack.cut_blocks(explicit, hosts, pool_net, block_size, ('calico_pod_cidr', 'calico_ipam_pool'))


def vtep_mac(host):
    """Felix's IPv4 VTEP MAC of a lab host (module_utils/dual_stack.py vtep_mac)."""
    return dual_stack.vtep_mac(host)


def calico_lab_plan(hostvars, hosts, pool=None, block_size=26, mode='any', ipip_mode='always', settings=None,
                    pool_v6=None, block_size_v6=dual_stack.DEFAULT_BLOCK_SIZE_V6):
    """The plan, after the whole inventory is checked (module_utils/inventory_check.py).

    ``settings``: lab-wide values as the calling play sees them, for what the hosts' vars leave unset.
    ``pool_v6``/``block_size_v6``: calico_ipam_pool_v6 and calico_block_size_v6 (IPv6, issue 13).
    """
    hosts = list(hosts)
    hostvars = dict((host, hostvars[host]) for host in hosts)  # each host's variables looked up once
    settings = dict(settings or {})
    settings.setdefault('calico_ipam_pool', pool)
    settings.setdefault('calico_block_size', block_size)
    settings.setdefault('calico_ipam_pool_v6', pool_v6)
    settings.setdefault('calico_block_size_v6', block_size_v6)
    try:
        lab, problems = check_inventory(hostvars, hosts, mode, settings)
        raise_problems(problems)
        plan = _plan(hostvars, hosts, lab['calico_ipam_pool'], lab['calico_block_size'], mode, ipip_mode,
                     (lab['calico_ipam_pool_v6'], lab['calico_block_size_v6']))
        raise_problems(check_plan(plan, lab, lab_name=settings.get('netns_hosts_lab') or 'lab'))
        return plan
    except LabError as exc:
        raise AnsibleFilterError('lab inventory: %s' % exc)


def _plan(hostvars, hosts, pool, block_size, mode, ipip_mode, v6=(None, dual_stack.DEFAULT_BLOCK_SIZE_V6)):
    if not hosts:
        raise LabError('group calico_nodes is empty')
    if ipip_mode not in ('always', 'cross_subnet'):
        raise LabError('calico_ipip_mode / calico_vxlan_mode: %r is not always or cross_subnet' % ipip_mode)
    # IPv6-only hosts (calico_node_address_v6 alone; check_inventory allows only all-or-none) have no
    # IPv4 at all: None in every IPv4 key, no IPv4 block, pods without ip.
    v4_hosts = [host for host in hosts if _host_value(hostvars, host, 'calico_node_address')
                or not _host_value(hostvars, host, 'calico_node_address_v6')]
    blocks = _blocks(hostvars, v4_hosts, pool, block_size) if v4_hosts else {}
    plan_v6 = dual_stack.plan_v6(hostvars, hosts, str(v6[0]) if v6[0] else None, v6[1])
    plan, node_ips, pod_names, pod_ips = {}, {}, {}, {}
    for host in hosts:
        address_text = _host_value(hostvars, host, 'calico_node_address')
        if host not in v4_hosts:
            plan[host] = _v6_only_host(hostvars, host, plan_v6[host], pod_names, pod_ips)
            continue
        if not address_text:
            raise LabError('%s: calico_node_address is missing (e.g. 172.16.91.201/24)' % host)
        address = parse_ipv4_interface(address_text, '%s: calico_node_address' % host, default_prefix=24)
        if str(address.ip) in node_ips:
            raise LabError('%s: calico_node_address %s is also %s\'s' % (host, address.ip, node_ips[str(address.ip)]))
        node_ips[str(address.ip)] = host
        block = blocks[host]
        tunnel_text = _host_value(hostvars, host, 'calico_tunnel_address')
        tunnel = (parse_ipv4_address(tunnel_text, '%s: calico_tunnel_address' % host) if tunnel_text
                  else block.network_address)
        if tunnel not in block:
            raise LabError('%s: calico_tunnel_address %s is outside the block %s' % (host, tunnel, block))
        used = set([tunnel])
        workloads = []
        items = _host_value(hostvars, host, 'calico_workloads', [])
        if not isinstance(items, list):
            raise LabError('%s: calico_workloads must be a list of {name, ip}' % host)
        for index, item in enumerate(items):
            field = '%s: calico_workloads[%d]' % (host, index)
            workload = _workload(host, index, item, pod_names)
            ip = None
            if item.get('ip'):
                ip = parse_ipv4_address(item['ip'], field + '.ip')
                if ip not in block:
                    raise LabError('%s.ip: %s is outside %s\'s block %s' % (field, ip, host, block))
                if ip in used:
                    raise LabError('%s.ip: %s is already used on %s (the tunnel address or another pod)'
                                   % (field, ip, host))
                used.add(ip)
            workload['ip'] = ip
            workloads.append(workload)
        free = (ip for ip in block if ip not in used and ip != block.broadcast_address)
        for workload in workloads:
            if workload['ip'] is None:
                try:
                    workload['ip'] = next(free)
                except StopIteration:
                    raise LabError('%s: block %s has no free address left for %s' % (host, block, workload['name']))
                used.add(workload['ip'])
        for workload in workloads:
            if str(workload['ip']) in pod_ips:
                raise LabError('%s: pod address %s is also %s\'s' % (host, workload['ip'], pod_ips[str(workload['ip'])]))
            pod_ips[str(workload['ip'])] = workload['name']
        _assign_ip6(host, plan_v6[host], workloads, items, pod_ips)
        plan[host] = {
            'node_address': str(address),
            'node_ip': str(address.ip),
            'underlay_dev': check_ifname(_host_value(hostvars, host, 'calico_underlay_dev', 'eth0'),
                                         '%s: calico_underlay_dev' % host),
            'subnet': str(address.network),
            'block': str(block),
            'tunnel_address': str(tunnel),
            'vtep_mac': vtep_mac(host),
            'workloads': _plan_workloads(workloads),
        }
        plan[host].update(plan_v6[host])
    for host in hosts:
        me = plan[host]
        me['peers'] = []
        for other in hosts:
            if other == host:
                continue
            peer = plan[other]
            same_subnet = peer['subnet'] == me['subnet'] and me['subnet'] is not None
            if not (me['node_ip'] and peer['node_ip']):
                # IPv6-only: nothing IPv4 between the two.
                item = dict((key, None) for key in ('node_ip', 'block', 'tunnel_address', 'vtep_mac'))
                item.update(name=other, same_subnet=False, encapsulate=False)
                item.update(dual_stack.peer_v6(me, peer, (host, other), mode, ipip_mode))
                me['peers'].append(item)
                continue
            if mode == 'bgp' and not same_subnet:
                raise LabError('%s (%s) and %s (%s) are not on one L2 segment: BGP mode routes pod blocks '
                               'straight to the peer\'s underlay address, which needs one subnet. Use IPIP '
                               '(playbooks/ipip.yml) with calico_ipip_mode: cross_subnet instead.'
                               % (host, me['subnet'], other, peer['subnet']))
            encapsulate = mode in ('ipip', 'vxlan') and (ipip_mode == 'always' or not same_subnet)
            item = {'name': other, 'node_ip': peer['node_ip'], 'block': peer['block'],
                    'tunnel_address': peer['tunnel_address'], 'vtep_mac': peer['vtep_mac'],
                    'same_subnet': same_subnet, 'encapsulate': encapsulate}
            item.update(dual_stack.peer_v6(me, peer, (host, other), mode, ipip_mode))
            me['peers'].append(item)
    return plan


def _workload(host, index, item, pod_names):
    """A workload's name (unique across the lab), Kubernetes namespace and labels; its addresses come later."""
    field = '%s: calico_workloads[%d]' % (host, index)
    if not isinstance(item, dict) or not item.get('name'):
        raise LabError('%s: each workload needs a name' % field)
    name = check_netns(str(item['name']), field + '.name')
    if name in pod_names:
        raise LabError('%s.name: %s is also a pod of %s (pod names are namespace names and must be '
                       'unique across the lab)' % (field, name, pod_names[name]))
    pod_names[name] = host
    namespace = check_k8s_namespace(item.get('namespace', DEFAULT_K8S_NAMESPACE), field + '.namespace')
    return {'name': name, 'ip': None, 'namespace': namespace, 'labels': dict(item.get('labels') or {})}


def _assign_ip6(host, host_v6, workloads, items, pod_ips):
    dual_stack.assign_ip6(host, host_v6['block_v6'], host_v6['tunnel_address_v6'], workloads, items)
    for workload in workloads:
        if workload['ip6'] is not None:
            if workload['ip6'] in pod_ips:
                raise LabError('%s: pod address %s is also %s\'s' % (host, workload['ip6'], pod_ips[workload['ip6']]))
            pod_ips[workload['ip6']] = workload['name']


def _plan_workloads(workloads):
    # Calico's workload id <namespace>.<pod> names the host end; the pod's network namespace keeps the
    # pod's name. ip is None on an IPv6-only host.
    return [{'name': w['name'], 'ip': None if w['ip'] is None else str(w['ip']), 'ip6': w['ip6'], 'netns': w['name'],
             'namespace': w['namespace'], 'workload': workload_id(w['namespace'], w['name']),
             'host_ifname': workload_host_ifname(workload_id(w['namespace'], w['name'])), 'labels': w['labels']}
            for w in workloads]


def _v6_only_host(hostvars, host, host_v6, pod_names, pod_ips):
    """The plan of an IPv6-only host: None in every IPv4 key, pods with ip6 only."""
    items = _host_value(hostvars, host, 'calico_workloads', [])
    if not isinstance(items, list):
        raise LabError('%s: calico_workloads must be a list of {name, ip6}' % host)
    workloads = [_workload(host, index, item, pod_names) for index, item in enumerate(items)]
    _assign_ip6(host, host_v6, workloads, items, pod_ips)
    item = dict.fromkeys(('node_address', 'node_ip', 'subnet', 'block', 'tunnel_address', 'vtep_mac'))
    item.update(host_v6, workloads=_plan_workloads(workloads),
                underlay_dev=check_ifname(_host_value(hostvars, host, 'calico_underlay_dev', 'eth0'),
                                          '%s: calico_underlay_dev' % host))
    return item


def lab_blocks_summary(plan):
    """One line per host, for the play's output."""
    return [' '.join((['%s %s block %s' % (host, item['node_address'], item['block'])] if item['block'] else [host])
                     + (['%s block %s' % (item['node_address_v6'], item['block_v6'])] if item.get('block_v6') else [])
                     + ['pods %s' % ', '.join('%s=%s' % (w['name'], '/'.join(a for a in (w['ip'], w.get('ip6')) if a))
                                              for w in item['workloads'])])
            for host, item in sorted(plan.items())]


def workload_veths(host_plan):
    """Items for calico_veth's ``workloads``."""
    return [dict({'workload': w['workload'], 'netns': w['netns'], 'host_ifname': w['host_ifname']},
                 **dict(({'address': w['ip']} if w['ip'] else {}), **dual_stack.veth_address6(w)))
            for w in host_plan['workloads']]


def workload_routes(host_plan, pod_ifname='eth0'):
    """Items for calico_route: each pod's routes as calico_veth's pod_routes makes them
    (module_utils/workload.py pod_route_items)."""
    return [route for w in host_plan['workloads'] for route in workload.pod_route_items(w, pod_ifname)]


def host_end_interfaces(host_plan):
    """proxy_arp's interfaces: each pod's host end; one of a pod with ip6 also with ipv6 (its IPv6 sysctls);
    one of a pod without ip (an IPv6-only host) with its IPv4 settings left alone, as the CNI plugin writes
    them only for a pod with IPv4 (configureSysctls, hasIPv4, in cni-plugin/pkg/dataplane/linux/dataplane_linux.go)."""
    return [w['host_ifname'] if not w.get('ip6') else {'name': w['host_ifname'], 'ipv6': True} if w['ip']
            else dict({'name': w['host_ifname'], 'ipv6': True}, **dict.fromkeys(IPV4_HOST_END_SYSCTLS))
            for w in host_plan['workloads']]


# proxy_arp's IPv4 options of a host end (accept_ra, IPv6, stays).
IPV4_HOST_END_SYSCTLS = IPV4_SETTINGS


def peer_routes(host_plan, mode, mtu=None, mtu_v6=None):
    """Items for calico_route: every peer's block (plain or through the tunnel), a blackhole for our own;
    the same for the IPv6 blocks (module_utils/dual_stack.py peer_routes_v6).

    MTU goes on the routes through the tunnel, as Felix's tunnelRoute sets it (felix/dataplane/linux/
    vxlan_mgr.go, ipip_mgr.go); routes over the underlay get none (route_mgr.go noEncapRoute). MTU_V6,
    vxlan-v6.calico's: by default MTU less 20, Felix's VXLAN overheads being 50 and 70 bytes
    (felix/dataplane/linux/int_dataplane.go vxlanMTUOverhead, vxlanV6MTUOverhead).
    """
    routes = [{'dest': host_plan['block'], 'type': 'blackhole'}] if host_plan['block'] else []
    route_mtu = {'mtu': int(mtu)} if mtu else {}
    for peer in host_plan['peers']:
        if not peer['block']:
            continue
        if mode == 'ipip' and peer['encapsulate']:
            routes.append(dict({'dest': peer['block'], 'via': peer['node_ip'], 'dev': 'tunl0', 'onlink': True},
                               **route_mtu))
        elif mode == 'vxlan' and peer['encapsulate']:
            routes.append(dict({'dest': peer['block'], 'via': peer['tunnel_address'], 'dev': 'vxlan.calico',
                                'onlink': True}, **route_mtu))
        else:
            routes.append({'dest': peer['block'], 'via': peer['node_ip'], 'dev': host_plan['underlay_dev']})
    if mtu_v6 is None and mtu:
        mtu_v6 = int(mtu) - 20
    return routes + dual_stack.peer_routes_v6(host_plan, mode, mtu_v6)


def vxlan_peers(host_plan):
    """calico_neigh input: each encapsulated peer's VTEP address resolves to its MAC, sent to its node."""
    peers = [p for p in host_plan['peers'] if p['encapsulate']]
    v6 = dual_stack.vxlan_peers_v6(host_plan)
    return {
        'neighbours': [{'address': p['tunnel_address'], 'lladdr': p['vtep_mac'], 'dev': 'vxlan.calico'}
                       for p in peers] + v6['neighbours'],
        'fdb': [{'lladdr': p['vtep_mac'], 'dev': 'vxlan.calico', 'dst': p['node_ip']} for p in peers] + v6['fdb'],
    }


def gateway_neighbour(netns, pod_ifname='eth0'):
    """calico_neigh item: the pod resolves 169.254.1.1 to the host end's MAC without asking."""
    return {'address': '169.254.1.1', 'lladdr': 'ee:ee:ee:ee:ee:ee', 'dev': pod_ifname, 'netns': netns}


def netns_host(hostvars_of_host):
    """netns_lab input for one inventory host; address6/gateway6 when it has IPv6."""
    item = {'name': hostvars_of_host['inventory_hostname'], 'dev': hostvars_of_host.get('calico_underlay_dev') or 'eth0'}
    if hostvars_of_host.get('calico_node_address'):  # not on an IPv6-only host
        item.update(address=hostvars_of_host['calico_node_address'], gateway=hostvars_of_host.get('calico_underlay_gateway'))
    if hostvars_of_host.get('calico_node_address_v6'):
        item['address6'] = str(hostvars_of_host['calico_node_address_v6'])
        item['gateway6'] = hostvars_of_host.get('calico_underlay_gateway_v6')
    return item


def lab_pods(plan):
    """Every pod of the lab as {name, ip} (and ip6 when it has one): the targets of pod_ping."""
    return [dict((key, w[key]) for key in ('name', 'ip', 'ip6') if w.get(key))
            for host in sorted(plan) for w in plan[host]['workloads']]


# How the packets must cross the underlay when the route to a pod goes through this device.
ROUTE_ENCAPSULATION = {'tunl0': 'ipip', 'vxlan.calico': 'vxlan', 'vxlan-v6.calico': 'vxlan'}
TUNNEL_DEVICES = tuple(ROUTE_ENCAPSULATION)


def capture_probes(plan, host, policies=None):
    """What pod_capture pings on HOST: its first pod to the first pod of every other host with pods, or
    with POLICIES (calico_policies) the first such pair whose ICMP they allow."""
    normalized = calico_policy.normalize(policies) if policies else []

    def echo(s, t, family):  # the policies allow its ICMP echo over FAMILY (each family judged apart)
        return not normalized or calico_policy.verdict(normalized, s, t, 1 if family == 4 else 58, None, family)[0] == 'allow'

    def over4(s, t):
        return bool(s['ip'] and t['ip'] and echo(s, t, 4))

    def over6(s, t):  # a pod of an IPv6-only host has no ip: its pairs are probed over IPv6 alone
        return bool(s.get('ip6') and t.get('ip6') and echo(s, t, 6))

    mine = plan[host]['workloads']
    probes = []
    for peer in plan[host]['peers'] if mine else []:
        theirs = plan[peer['name']]['workloads']

        def first(allowed):  # the first pair in pod order (not every pair: that is pods squared per peer)
            return next(((s, t) for s in mine for t in theirs if allowed(s, t)), None)

        dual = any(s.get('ip6') for s in mine) and any(t.get('ip6') for t in theirs)
        found = (dual and first(lambda s, t: over4(s, t) and over6(s, t))) or first(over4) or (dual and first(over6))
        if found:
            source, target = found
            v4 = {'source_ip': source['ip'], 'ip': target['ip']} if over4(source, target) else {}
            # over IPv6 as well when both pods have it (pod_capture probes each family)
            v6 = {'source_ip6': source['ip6'], 'ip6': target['ip6']} if over6(source, target) else {}
            probes.append(dict({'source': source['netns'], 'target': target['name']}, **dict(v4, **v6)))
    return probes


def capture_report(captures, plan, policies=None):
    """Judge what pod_capture registered on every host (or pod_ping's captured list): what crossed the
    underlay agrees with the routes.

    Every echo request the probe sent must have left through the underlay and every reply come back,
    encapsulated as the route's device says (plain for the underlay itself), between the two hosts'
    node addresses. Returns {'lines', 'failures'}.
    """
    pod_host = dict((w['name'], host) for host, item in plan.items() for w in item['workloads'])
    lines, failures = [], []
    for host in sorted(captures):
        results = captures[host] or []
        if isinstance(results, dict):
            results = results.get('results') or []
        # A host with pods and peers must have captured every probe: no result is no proof.
        got = set((r['source'], r['target'], r.get('family') or 'ipv4') for r in results)
        for wanted in capture_probes(plan, host, policies) if host in plan else []:
            for family in (['ipv4'] if wanted.get('ip') else []) + (['ipv6'] if wanted.get('ip6') else []):
                if (wanted['source'], wanted['target'], family) not in got:
                    failures.append('%s: %s -> %s%s: no capture result (the capture did not run)'
                                    % (host, wanted['source'], wanted['target'], ' over IPv6' if family == 'ipv6' else ''))
        for r in results:
            v6 = r.get('family') == 'ipv6'
            pair = '%s: %s -> %s%s' % (host, r['source'], r['target'], ' over IPv6' if v6 else '')
            want = ROUTE_ENCAPSULATION.get(r.get('route_dev'), 'none')
            requests = [p for p in r['packets'] if p['direction'] == 'out' and p['icmp'] == 'request']
            replies = [p for p in r['packets'] if p['direction'] == 'in' and p['icmp'] == 'reply']
            example = (requests or replies or [{'text': 'nothing of theirs'}])[0]['text']
            lines.append('%s on %s: %d requests out, %d replies in, e.g. %s'
                         % (pair, plan[host]['underlay_dev'], len(requests), len(replies), example))
            if len(requests) != r['sent'] or len(replies) != r['received']:
                failures.append('%s: ping sent %d and got %d back, but %s carried %d requests out and %d replies in'
                                % (pair, r['sent'], r['received'], plan[host]['underlay_dev'], len(requests),
                                   len(replies)))
            wrong = sorted(set(p['encapsulation'] for p in r['packets'] if p['encapsulation'] != want))
            if wrong:
                failures.append('%s: the route goes through %s, so %s on the wire, but packets crossed %s'
                                % (pair, r.get('route_dev'), ENCAPSULATION_NAMES[want],
                                   ' and '.join(ENCAPSULATION_NAMES[e] for e in wrong)))
            peer = plan.get(pod_host.get(r['target']))
            if want == 'none' or not peer:
                continue
            # VXLAN over IPv6 (vxlan-v6.calico) runs between the hosts' IPv6 addresses.
            mine, theirs = (plan[host].get('node_ip_v6'), peer.get('node_ip_v6')) if v6 else (plan[host]['node_ip'], peer['node_ip'])
            ends = {'out': (mine, theirs), 'in': (theirs, mine)}
            strays = [p['text'] for p in r['packets'] if p['encapsulation'] == want
                      and (p['outer_src'], p['outer_dst']) != ends[p['direction']]]
            if strays:
                failures.append('%s: outer addresses should be %s <-> %s: %s' % (pair, mine, theirs, strays[0]))
    return {'lines': lines, 'failures': failures}


def host_ifname(workload, namespace=None):
    """calico_host_ifname: the host end's name of WORKLOAD (a workload id), or of the pod WORKLOAD of the
    Kubernetes NAMESPACE when one is given (the id is then <namespace>.<pod>, as Calico hashes it)."""
    if namespace is not None:
        try:
            workload = workload_id(check_k8s_namespace(namespace, 'calico_host_ifname'), workload)
        except LabError as exc:
            raise AnsibleFilterError(str(exc))
    return workload_host_ifname(workload)


class FilterModule(object):
    def filters(self):
        return {
            'calico_lab_plan': calico_lab_plan,
            'calico_lab_summary': lab_blocks_summary,
            'calico_workload_veths': workload_veths,
            'calico_workload_routes': workload_routes,
            'calico_peer_routes': peer_routes,
            'calico_capture_probes': capture_probes,
            'calico_capture_report': capture_report,
            'calico_lab_pods': lab_pods,
            'calico_vxlan_peers': vxlan_peers,
            'calico_gateway_neighbour': gateway_neighbour,
            'calico_host_end_interfaces': host_end_interfaces,
            'calico_netns_host': netns_host,
            'calico_host_ifname': host_ifname,
        }
