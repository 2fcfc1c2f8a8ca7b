"""Input validation and planning of the modules, without root."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils import veth_plan
from ansible_collections.labnet.calico.plugins.module_utils import route_plan
from ansible_collections.labnet.calico.plugins.modules import calico_veth


def route_params(**overrides):
    params = dict(dest=None, via=None, dev=None, scope=None, onlink=False, proto='77', metric=0, type='unicast',
                  table='main', netns=None, state='present', routes=None)
    params.update(overrides)
    return params


@pytest.mark.parametrize('routes, message', [
    ([{'dest': '10.0.0.0/24', 'type': 'blackhole', 'via': '10.1.1.1'}], 'routes[0].type: a blackhole route takes no via'),
    ([{'dest': '10.0.0.0/24', 'onlink': True, 'dev': 'tunl0'}], 'routes[0].onlink: onlink needs a gateway'),
    ([{'dest': '10.0.0.0/24'}], 'routes[0].dest: route to 10.0.0.0/24 needs via or dev'),
    ([{'dest': '10.0.0.0/24', 'dev': 'eth0'}, {'dest': '10.0.0.0/24', 'dev': 'eth1'}], 'routes[1].dest: 10.0.0.0/24 is listed twice'),
    ([{'dest': '10.0.0.0/24', 'dev': 'x' * 16}], 'routes[0].dev: interface name'),
])
def test_calico_route_refuses_bad_input(routes, message):
    with pytest.raises(LabError) as error:
        route_plan.wanted_routes(route_params(routes=routes))
    assert str(error.value).startswith(message)


def test_calico_route_normalises_wanted_routes():
    wanted = route_plan.wanted_routes(route_params(routes=[
        {'dest': '10.10.1.0/24', 'via': '172.16.91.202', 'dev': 'tunl0', 'onlink': True, 'proto': 'bird'},
        {'dest': '169.254.1.1', 'dev': 'eth0', 'scope': 'link', 'netns': 'pod1'}]))
    assert wanted[0] == (None, 'present', {'table': 254, 'type': 'unicast', 'dst': '10.10.1.0/24',
                                           'via': '172.16.91.202', 'dev': 'tunl0', 'scope': None, 'proto': 12,
                                           'metric': 0, 'onlink': True, 'mtu': None})
    assert wanted[1][0] == 'pod1' and wanted[1][2]['dst'] == '169.254.1.1/32' and wanted[1][2]['scope'] == 253


def test_same_route_compares_only_what_is_asked():
    wanted = {'type': 'unicast', 'dst': '10.0.0.0/24', 'via': None, 'dev': 'eth0', 'scope': None, 'proto': 77,
              'metric': 0, 'onlink': False, 'mtu': None}
    assert route_plan.same_route(wanted, dict(wanted, scope=253))
    assert not route_plan.same_route(wanted, dict(wanted, dev='eth1'))
    assert not route_plan.same_route(wanted, dict(wanted, proto=78))


def veth_params(**overrides):
    params = dict(workload=None, netns=None, host_ifname=None, pod_ifname='eth0', mac='ee:ee:ee:ee:ee:ee',
                  mtu=None, address=None, address6=None, state='present', delete_netns=False, workloads=None,
                  static_arp=True, pod_ip_forward=False, mtu_from=None, encapsulation='none')
    params.update(overrides)
    return params


def test_calico_veth_defaults_and_validation():
    spec = calico_veth.wanted_workloads(veth_params(workload='netns01', address='10.10.0.2'))[0]
    assert spec['netns'] == 'netns01' and spec['address'] == '10.10.0.2/32' and spec['host_ifname'].startswith('cali')
    with pytest.raises(LabError, match=r'^workloads\[1\]\.address: a workload address is a /32'):
        calico_veth.wanted_workloads(veth_params(workloads=[{'workload': 'a'}, {'workload': 'b', 'address': '10.0.0.1/24'}]))
    with pytest.raises(LabError, match=r'^workloads\[1\]\.workload: .* is also used'):
        calico_veth.wanted_workloads(veth_params(workloads=[{'workload': 'a'}, {'workload': 'a'}]))


def test_veth_peer_check_needs_both_indexes():
    host = {'kind': 'veth', 'index': 7, 'peer_index': 2}
    assert veth_plan.is_peer(host, {'kind': 'veth', 'index': 2, 'peer_index': 7})
    assert not veth_plan.is_peer(host, {'kind': 'veth', 'index': 2, 'peer_index': 9})
    assert not veth_plan.is_peer(host, None)


class FakeIPRoute:
    """The state calico_veth reads: host links, namespaces, the links in each, pids per namespace."""

    def __init__(self, host_links, netns_links):
        self.host_links, self.netns_links = host_links, netns_links

    def links(self, netns=None):
        return dict((l['name'], dict(l)) for l in (self.netns_links[netns] if netns else self.host_links))

    def netns_names(self):
        return set(self.netns_links)

    def netns_by_id(self):
        return dict((i, name) for i, name in enumerate(sorted(self.netns_links)))

    def netns_pids(self, netns):
        return []


def test_a_pair_whose_workload_id_changed_is_made_again_in_its_namespace():
    """The lab's ids became Calico's '<namespace>.<pod>': the old pair (tag labnet.calico:netns01, named
    cali + sha1('netns01')) is purged, its namespace kept, and the new pair planned as if it were gone."""
    from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname
    old = workload_host_ifname('netns01')
    host_links = [{'name': old, 'kind': 'veth', 'index': 7, 'peer_index': 2, 'peer_netnsid': 0,
                   'alias': 'labnet.calico:netns01', 'mac': 'ee:ee:ee:ee:ee:ee', 'mtu': 1500, 'up': True}]
    netns_links = {'netns01': [{'name': 'lo', 'kind': None, 'index': 1, 'up': True},
                               {'name': 'eth0', 'kind': 'veth', 'index': 2, 'peer_index': 7, 'mtu': 1500,
                                'up': True, 'addresses': ['10.10.0.2/32']}]}
    iproute = FakeIPRoute(host_links, netns_links)
    wanted = calico_veth.wanted_workloads(veth_params(
        workloads=[{'workload': 'default.netns01', 'netns': 'netns01', 'address': '10.10.0.2'}]))
    assert wanted[0]['host_ifname'] == 'caliadc59a9f7cf'
    planner = calico_veth.VethPlanner(iproute)
    host_changes, ns_changes, _before, purged, kept = calico_veth.purge_changes(iproute, planner, wanted)
    assert purged == ['netns01'] and kept == [] and ns_changes == []  # the namespace is the new pair's
    assert [c.args for c in host_changes] == [['link', 'del', old]]
    ns_part, host_part, pod_part, _was, _after = planner.plan(wanted[0])
    assert ns_part == []
    assert host_part[0].args == ['link', 'add', 'caliadc59a9f7cf', 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth',
                                 'peer', 'name', 'eth0', 'netns', 'netns01']
    assert ['addr', 'add', '10.10.0.2/32', 'dev', 'eth0'] in [c.args for c in pod_part]

    # Without the renamed workload listed (teardown of another lab's pods), the namespace goes with it.
    planner = calico_veth.VethPlanner(iproute)
    _h, ns_changes, _b, purged, _k = calico_veth.purge_changes(iproute, planner, [])
    assert purged == ['netns01'] and [c.args for c in ns_changes] == [['netns', 'del', 'netns01']]


def test_calico_route_takes_both_families_in_one_call():
    wanted = route_plan.wanted_routes(route_params(routes=[
        {'dest': 'fd00:10:244::2/128', 'dev': 'cali0123456789a', 'scope': 'link'},
        {'dest': '::/0', 'via': 'fe80::ecee:eeff:feee:eeee', 'dev': 'eth0', 'netns': 'pod1'},
        {'dest': 'default', 'via': '169.254.1.1', 'dev': 'eth0', 'netns': 'pod1'},
        {'dest': 'fd00:10:244::/122', 'type': 'blackhole'}]))
    host, default6, default4, blackhole = [route for _ns, _state, route in wanted]
    assert host['scope'] is None and host['metric'] == 1024  # as the kernel keeps an IPv6 route
    assert default6['dst'] == '::/0' and default6['via'] == 'fe80::ecee:eeff:feee:eeee'
    assert default4['dst'] == '0.0.0.0/0' and default4['metric'] == 0
    assert blackhole['type'] == 'blackhole' and blackhole['metric'] == 1024


@pytest.mark.parametrize('routes, message', [
    ([{'dest': 'fd00::/64', 'via': '10.0.0.1'}], 'routes[0].via: 10.0.0.1 is IPv4 but dest fd00::/64 is IPv6'),
    ([{'dest': '::/0', 'via': 'fe80::1'}], 'routes[0].dev: the link-local gateway fe80::1 needs a dev'),
    ([{'dest': 'fd00::1/64', 'dev': 'eth0'}], 'routes[0].dest: '),
])
def test_calico_route_refuses_mixed_or_incomplete_ipv6(routes, message):
    with pytest.raises(LabError) as error:
        route_plan.wanted_routes(route_params(routes=routes))
    assert str(error.value).startswith(message)


def test_calico_veth_takes_an_ipv6_address_as_a_128():
    spec = calico_veth.wanted_workloads(veth_params(workload='p', address='10.10.0.2', address6='fd00:10:244::2'))[0]
    assert spec['address6'] == 'fd00:10:244::2/128'
    with pytest.raises(LabError, match=r'^address6: a workload IPv6 address is a /128'):
        calico_veth.wanted_workloads(veth_params(workload='p', address6='fd00:10:244::2/64'))
    with pytest.raises(LabError, match=r'^workloads\[0\]\.address6: .* is not an IPv6 address'):
        calico_veth.wanted_workloads(veth_params(workloads=[{'workload': 'p', 'address6': '10.0.0.1'}]))


def tunnel_params(**overrides):
    params = dict(mode='vxlan', exclusive=False, name=None, address=None, mtu=None, mtu_from=None, vni=4096,
                  port=4789, parent='eth0', local='172.16.91.201', mac=None, local6=None, address6=None, mac6=None,
                  state='present')
    params.update(overrides)
    return params


def test_calico_tunnel_manages_vxlan_v6_beside_vxlan():
    from ansible_collections.labnet.calico.plugins.modules import calico_tunnel
    specs = calico_tunnel.wanted_tunnels(tunnel_params(local6='fd00:91::201', address6='fd00:10:244::'))
    assert [(s['name'], s['state']) for s in specs] == [('vxlan-v6.calico', 'present'), ('vxlan.calico', 'present')]
    assert specs[0]['local'] == 'fd00:91::201' and specs[0]['address'] == 'fd00:10:244::/128'
    assert specs[0]['vni'] == 4096 and specs[0]['parent'] == 'eth0'
    # IPv4 only: the lab's vxlan-v6.calico goes; ipip exclusive removes both VXLAN devices; all removes three.
    assert [(s['name'], s['state']) for s in calico_tunnel.wanted_tunnels(tunnel_params())] == [
        ('vxlan-v6.calico', 'absent'), ('vxlan.calico', 'present')]
    ipip = calico_tunnel.wanted_tunnels(tunnel_params(mode='ipip', parent=None, local=None, exclusive=True))
    assert [(s['name'], s['state']) for s in ipip] == [
        ('vxlan.calico', 'absent'), ('vxlan-v6.calico', 'absent'), ('tunl0', 'present')]
    assert len(calico_tunnel.wanted_tunnels(tunnel_params(mode='all', parent=None, local=None, state='absent'))) == 3
    # IPv6-only (local6 without local, address or mac): vxlan-v6.calico alone, the lab's vxlan.calico removed.
    v6_only = calico_tunnel.wanted_tunnels(tunnel_params(local=None, local6='fd00:91::201', address6='fd00:10:244::',
                                                         mtu_from='eth0', exclusive=True))
    assert [(s['name'], s['state']) for s in v6_only] == [
        ('tunl0', 'absent'), ('vxlan-v6.calico', 'present'), ('vxlan.calico', 'absent')]
    assert (v6_only[1]['parent'], v6_only[1]['mtu_from'], v6_only[1]['vni']) == ('eth0', 'eth0', 4096)
    with pytest.raises(LabError, match='^address6: needs local6'):
        calico_tunnel.wanted_tunnels(tunnel_params(address6='fd00:10:244::'))
    with pytest.raises(LabError, match='^local6: only for mode vxlan'):
        calico_tunnel.wanted_tunnels(tunnel_params(mode='ipip', parent=None, local=None, local6='fd00::1'))
    with pytest.raises(LabError, match="^local6: '10.0.0.1' is not an IPv6 address"):
        calico_tunnel.wanted_tunnels(tunnel_params(local6='10.0.0.1'))
