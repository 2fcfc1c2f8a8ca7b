"""netns_lab without root: topology planning (segments, names, gateways) and the changes planned
against a recorded state."""
import ipaddress

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils import netns_plan
from ansible_collections.labnet.calico.plugins.modules import netns_lab

TWO = [{'name': 'host-a', 'address': '172.16.91.201/24'}, {'name': 'host-b', 'address': '172.16.91.202/24'}]
THREE = TWO + [{'name': 'host-c', 'address': '172.16.92.203/24'}]


def test_one_subnet_is_one_switch_and_no_router():
    plan = netns_lab.plan_lab(TWO)
    assert plan['router'] is None
    assert [(s['subnet'], s['switch'], s['hosts'], s['gateway']) for s in plan['segments']] == [
        ('172.16.91.0/24', 'lab-sw-172-16-91-0-24', ['host-a', 'host-b'], None)]
    host = plan['hosts'][0]
    assert (host['netns'], host['dev'], host['port'], host['switch']) == (
        'host-a', 'eth0', 'p-host-a', 'lab-sw-172-16-91-0-24')
    assert ' '.join(netns_lab.route_argv(host['default_route'])) == '0.0.0.0/0 dev eth0 scope link proto 79'


def test_two_subnets_get_one_router_with_the_first_address_of_each():
    plan = netns_lab.plan_lab(THREE, lab='t1')
    assert plan['router'] == 't1-router'
    assert [(s['switch'], s['gateway'], s['router_leg'], s['hosts']) for s in plan['segments']] == [
        ('t1-sw-172-16-91-0-24', '172.16.91.1', 's-ac105b00-24', ['host-a', 'host-b']),
        ('t1-sw-172-16-92-0-24', '172.16.92.1', 's-ac105c00-24', ['host-c'])]
    routes = dict((h['name'], ' '.join(netns_lab.route_argv(h['default_route']))) for h in plan['hosts'])
    assert routes['host-c'] == '0.0.0.0/0 via 172.16.92.1 dev eth0 scope global proto 79'
    assert [name for name, _role in netns_lab.namespaces(plan)] == [
        'host-a', 'host-b', 'host-c', 't1-sw-172-16-91-0-24', 't1-sw-172-16-92-0-24', 't1-router']


def test_a_gateway_given_makes_a_router_even_for_one_subnet():
    hosts = [dict(TWO[0], gateway='172.16.91.254'), TWO[1]]
    plan = netns_lab.plan_lab(hosts)
    assert plan['router'] == 'lab-router' and plan['segments'][0]['gateway'] == '172.16.91.254'
    assert all(h['gateway'] == '172.16.91.254' for h in plan['hosts'])


def test_names_are_deterministic_and_fit_the_kernel():
    network = ipaddress.IPv4Network('192.168.255.252/30')
    assert netns_plan.switch_name('lab', network) == 'lab-sw-192-168-255-252-30'
    assert netns_plan.leg_name(network) == 's-c0a8fffc-30'
    assert netns_plan.port_name('node-1') == 'p-node-1'
    long_port = netns_plan.port_name('a-rather-long-host-name')
    assert len(long_port) == 15 and long_port.startswith('p-')
    assert long_port == netns_plan.port_name('a-rather-long-host-name')
    assert long_port != netns_plan.port_name('a-rather-long-host-name2')
    assert netns_plan.first_usable(ipaddress.IPv4Network('10.0.0.0/31')) == ipaddress.IPv4Address('10.0.0.0')


@pytest.mark.parametrize('hosts, lab, message', [
    ([], 'lab', 'hosts: at least one lab host'),
    ([{'name': 'a', 'address': '172.16.91.201'}], 'lab', 'hosts[0].address: \'172.16.91.201\' needs a prefix'),
    ([{'name': 'a', 'address': '172.16.91.0/24'}], 'lab', 'hosts[0].address: 172.16.91.0/24 is the network'),
    ([{'name': 'a', 'address': '10.0.0.1/24'}, {'name': 'a', 'address': '10.0.0.2/24'}], 'lab',
     'hosts[1].name: a is also hosts[0].name'),
    ([{'name': 'a', 'address': '10.0.0.1/24'}, {'name': 'b', 'address': '10.0.0.1/24'}], 'lab',
     'hosts[1].address: 10.0.0.1 is also the address of a'),
    ([{'name': 'a', 'address': '10.0.0.1/24'}, {'name': 'b', 'address': '10.0.0.2/16'}], 'lab',
     'hosts: subnets 10.0.0.0/16 and 10.0.0.0/24 overlap'),
    ([{'name': 'a', 'address': '10.0.0.1/24'}, {'name': 'b', 'address': '10.0.1.2/24'}], 'lab',
     'hosts[0].address: 10.0.0.1 is the gateway of 10.0.0.0/24'),
    ([{'name': 'a', 'address': '10.0.0.5/24', 'gateway': '10.0.0.1'},
      {'name': 'b', 'address': '10.0.0.6/24', 'gateway': '10.0.0.2'}], 'lab', 'hosts: the hosts of 10.0.0.0/24 give'),
    ([{'name': 'a', 'address': '10.0.0.5/24', 'gateway': '10.0.1.1'}], 'lab', 'hosts[0].gateway: 10.0.1.1 is outside'),
    ([{'name': 'a', 'address': '10.0.0.5/24', 'dev': 'lo'}], 'lab', 'hosts[0].dev: the underlay interface cannot'),
    ([{'name': 'a', 'address': '10.0.0.5/24', 'dev': 'x' * 16}], 'lab', 'hosts[0].dev: interface name'),
    ([{'name': 'a b', 'address': '10.0.0.5/24'}], 'lab', 'hosts[0].name: network namespace name'),
    ([{'name': 'lab-router', 'address': '10.0.0.5/24'}], 'lab', 'hosts[0].name: lab-router is the name of a'),
    ([{'name': 'a', 'address': '10.0.0.5/24'}], 'bad lab', 'lab: \'bad lab\' must be'),
])
def test_bad_input_is_refused_naming_the_field(hosts, lab, message):
    with pytest.raises(LabError) as error:
        netns_lab.plan_lab(hosts, lab=lab)
    assert str(error.value).startswith(message)


def test_pods_must_not_clash_with_lab_namespaces():
    with pytest.raises(LabError, match=r'pods\[1\]: host-b is also'):
        netns_lab.plan_lab(TWO, pods=['netns01', 'host-b'])
    with pytest.raises(LabError, match=r'pods\[1\]: netns01 is given twice'):
        netns_lab.plan_lab(TWO, pods=['netns01', 'netns01'])


# ----------------------------------------------------------------------------------------------
# Planned changes against a recorded state (the normalised form IPRoute.links/routes return).

class FakeState(netns_lab.LabState):
    def __init__(self, links, routes=None):  # pylint: disable=super-init-not-called
        self.netns = set(links)
        self.links = links
        self.routes = routes or {}


def link(name, index, kind='veth', peer=None, alias='', up=True, addresses=(), master=None):
    return {'name': name, 'index': index, 'peer_index': peer, 'peer_netnsid': 0 if peer else None, 'kind': kind,
            'info': {}, 'mac': '', 'mtu': 1500, 'up': up, 'alias': alias, 'addresses': list(addresses),
            'master': master}


def built_lab(lab='lab'):
    """What the module leaves after building TWO: the state a second run reads."""
    def tag(what):
        return netns_lab.tag(lab, what)

    def lo(role):
        return link('lo', 1, kind=None, alias=tag(role), addresses=['127.0.0.1/8'])

    sw = 'lab-sw-172-16-91-0-24'
    links = {
        'host-a': {'lo': lo('host'),
                   'eth0': link('eth0', 2, peer=3, alias=tag('underlay'), addresses=['172.16.91.201/24'])},
        'host-b': {'lo': lo('host'),
                   'eth0': link('eth0', 2, peer=4, alias=tag('underlay'), addresses=['172.16.91.202/24'])},
        sw: {'lo': lo('switch'), 'br0': link('br0', 2, kind='bridge', alias=tag('bridge')),
             'p-host-a': link('p-host-a', 3, peer=2, alias=tag('port:host-a'), master='br0'),
             'p-host-b': link('p-host-b', 4, peer=2, alias=tag('port:host-b'), master='br0')},
    }
    route = {'table': 254, 'type': 'unicast', 'dst': '0.0.0.0/0', 'via': None, 'dev': 'eth0', 'scope': 253,
             'proto': 79, 'metric': 0, 'onlink': False}
    return links, {'host-a': [dict(route)], 'host-b': [dict(route)]}


def texts(changes):
    return [change.text() for change in changes]


def test_an_empty_machine_gets_namespaces_then_switch_then_hosts():
    plan = netns_lab.plan_lab(TWO)
    commands = texts(netns_lab.Builder(plan, FakeState({})).changes())
    assert commands[:3] == ['ip netns add host-a', 'ip netns add host-b', 'ip netns add lab-sw-172-16-91-0-24']
    pair = 'ip -n lab-sw-172-16-91-0-24 link add p-host-a type veth peer name eth0 netns host-a'
    address = 'ip -n host-a addr add 172.16.91.201/24 dev eth0'
    route = 'ip -n host-a route replace 0.0.0.0/0 dev eth0 scope link proto 79'
    assert pair in commands and address in commands and route in commands
    assert commands.index(pair) < commands.index(address) < commands.index(route)
    # Nothing is ever done in the namespace the module runs in but adding namespaces.
    assert all(c.startswith('ip -n ') or c.startswith('ip netns add ') for c in commands)


def test_a_built_lab_needs_no_change():
    links, routes = built_lab()
    assert netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links, routes)).changes() == []


def test_a_broken_pair_is_made_again_and_a_lost_route_put_back():
    links, routes = built_lab()
    del links['lab-sw-172-16-91-0-24']['p-host-b']  # e.g. someone deleted the port
    routes['host-a'] = []
    commands = texts(netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links, routes)).changes())
    assert commands == [
        'ip -n host-b link del dev eth0',
        'ip -n lab-sw-172-16-91-0-24 link add p-host-b type veth peer name eth0 netns host-b',
        'ip -n lab-sw-172-16-91-0-24 link set dev p-host-b alias labnet.calico:netns_lab:lab:port:host-b',
        'ip -n lab-sw-172-16-91-0-24 link set dev p-host-b master br0',
        'ip -n lab-sw-172-16-91-0-24 link set dev p-host-b up',
        'ip -n host-a route replace 0.0.0.0/0 dev eth0 scope link proto 79',
        'ip -n host-b link set dev eth0 alias labnet.calico:netns_lab:lab:underlay',
        'ip -n host-b addr add 172.16.91.202/24 dev eth0',
        'ip -n host-b link set dev eth0 up',
        'ip -n host-b route replace 0.0.0.0/0 dev eth0 scope link proto 79',
    ]


def test_a_foreign_default_route_is_left_alone_with_a_warning():
    links, routes = built_lab()
    routes['host-a'][0].update(proto=3, via='172.16.91.254', scope=0)
    builder = netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links, routes))
    assert builder.changes() == []
    assert builder.warnings == ['host-a keeps its default route 0.0.0.0/0 via 172.16.91.254 dev eth0 scope global '
                                'proto 3, which netns_lab did not make']


def test_a_namespace_that_is_not_the_labs_is_refused():
    links, routes = built_lab()
    links['host-a']['lo']['alias'] = ''
    links['host-a']['ens3'] = link('ens3', 7, kind=None)
    with pytest.raises(LabError, match='network namespace host-a exists and was not made by netns_lab'):
        netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links, routes)).changes()


def test_another_labs_namespace_is_refused():
    links, routes = built_lab(lab='other')
    with pytest.raises(LabError, match='is tagged labnet.calico:netns_lab:other:host'):
        netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links, routes)).changes()


def test_an_empty_namespace_of_a_wanted_name_is_taken_over():
    links = {'host-a': {'lo': link('lo', 1, kind=None, up=False),
                        'tunl0': link('tunl0', 2, kind='ipip', up=False)}}
    commands = texts(netns_lab.Builder(netns_lab.plan_lab(TWO), FakeState(links)).changes())
    assert 'ip netns add host-a' not in commands
    assert 'ip -n host-a link set dev lo alias labnet.calico:netns_lab:lab:host' in commands


def test_growing_to_two_subnets_adds_router_legs_and_moves_default_routes():
    links, routes = built_lab()
    commands = texts(netns_lab.Builder(netns_lab.plan_lab(THREE), FakeState(links, routes)).changes())
    assert 'ip netns add lab-router' in commands
    assert 'ip -n lab-sw-172-16-91-0-24 link add uplink type veth peer name s-ac105b00-24 netns lab-router' in commands
    assert 'ip -n lab-router addr add 172.16.91.1/24 dev s-ac105b00-24' in commands
    assert 'ip -n host-a route replace 0.0.0.0/0 via 172.16.91.1 dev eth0 scope global proto 79' in commands
    assert not any('link del' in c for c in commands)


def test_absent_removes_hosts_pods_switch_and_keeps_a_shared_switch():
    links, _routes = built_lab()
    links['netns01'] = {'lo': link('lo', 1, kind=None), 'eth0': link('eth0', 2, peer=9)}
    plan = netns_lab.plan_lab(TWO, pods=['netns01', 'netns09'])
    remove, warnings = netns_lab.plan_absent(plan, FakeState(links), [('lab-router', 'router')])
    assert remove == ['host-a', 'host-b', 'netns01', 'lab-sw-172-16-91-0-24'] and warnings == []

    plan = netns_lab.plan_lab(TWO[:1])
    remove, warnings = netns_lab.plan_absent(plan, FakeState(links), [])
    assert remove == ['host-a']
    assert warnings == ['switch lab-sw-172-16-91-0-24 is kept: it still serves host-b']


def test_absent_refuses_a_pod_namespace_with_foreign_links():
    links = {'netns01': {'lo': link('lo', 1, kind=None), 'wlan0': link('wlan0', 2, kind=None)}}
    with pytest.raises(LabError, match='pod network namespace netns01 holds links the lab did not make'):
        netns_lab.plan_absent(netns_lab.plan_lab(TWO, pods=['netns01']), FakeState(links), [])


def test_diff_lines_of_a_built_lab_equal_the_wanted_ones():
    links, routes = built_lab()
    plan = netns_lab.plan_lab(TWO)
    assert sorted(netns_lab.describe_current(plan, FakeState(links, routes))) == sorted(netns_lab.describe_wanted(plan))


# IPv6 underlay (issue 13)

TWO6 = [{'name': 'host-a', 'address': '172.16.91.201/24', 'address6': 'fd00:91::201/64'},
        {'name': 'host-b', 'address': '172.16.91.202/24', 'address6': 'fd00:91::202'}]
THREE6 = TWO6 + [{'name': 'host-c', 'address': '172.16.92.203/24', 'address6': 'fd00:92::203/64'}]


def test_one_segment_v6_needs_no_router_and_no_v6_default_route():
    plan = netns_lab.plan_lab(TWO6)
    assert plan['router'] is None
    assert [(h['address6'], h['gateway6'], h['default_route_v6']) for h in plan['hosts']] == [
        ('fd00:91::201/64', None, None), ('fd00:91::202/64', None, None)]
    assert plan['segments'][0]['subnet_v6'] == 'fd00:91::/64'
    assert netns_plan.forward_keys(plan) == {
        'host-a': ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding'],
        'host-b': ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']}


def test_two_subnets_v6_the_router_takes_the_first_address_and_hosts_route_through_it():
    plan = netns_lab.plan_lab(THREE6, lab='t6')
    assert [(s['subnet_v6'], s['gateway_v6']) for s in plan['segments']] == [
        ('fd00:91::/64', 'fd00:91::1'), ('fd00:92::/64', 'fd00:92::1')]
    routes = dict((h['name'], ' '.join(netns_lab.route_argv(h['default_route_v6']))) for h in plan['hosts'])
    assert routes['host-c'] == '::/0 via fd00:92::1 dev eth0 proto 79 metric 1024'
    assert netns_plan.forward_keys(plan)['t6-router'] == ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']
    commands = texts(netns_lab.Builder(plan, FakeState({})).changes())
    assert 'ip -n host-c addr add fd00:92::203/64 dev eth0 nodad' in commands
    assert 'ip -n t6-router addr add fd00:92::1/64 dev s-ac105c00-24 nodad' in commands
    assert 'ip -n host-c route replace ::/0 via fd00:92::1 dev eth0 proto 79 metric 1024' in commands


def test_a_v4_only_lab_forwards_only_v4():
    plan = netns_lab.plan_lab([{'name': 'a', 'address': '172.16.91.2/24'}, {'name': 'b', 'address': '172.16.92.2/24'}],
                              lab='t4')
    assert netns_plan.forward_keys(plan) == dict.fromkeys(['a', 'b', 't4-router'], ['net/ipv4/ip_forward'])
    assert all(h['default_route_v6'] is None for h in plan['hosts'])


def built_lab_v6():
    links, routes = built_lab()
    links['host-a']['eth0']['addresses6'] = ['fd00:91::201/64']
    links['host-b']['eth0']['addresses6'] = ['fd00:91::202/64']
    return links, routes


def test_a_built_dual_stack_lab_needs_no_change_and_a_lost_v6_address_comes_back():
    links, routes = built_lab_v6()
    plan = netns_lab.plan_lab(TWO6)
    assert netns_lab.Builder(plan, FakeState(links, routes)).changes() == []
    assert sorted(netns_lab.describe_current(plan, FakeState(links, routes))) == sorted(netns_lab.describe_wanted(plan))
    links['host-b']['eth0']['addresses6'] = ['fd00:91::99/64']
    assert texts(netns_lab.Builder(plan, FakeState(links, routes)).changes()) == [
        'ip -n host-b addr del fd00:91::99/64 dev eth0', 'ip -n host-b addr add fd00:91::202/64 dev eth0 nodad']


def test_dropping_address6_removes_it():
    links, routes = built_lab_v6()
    plan = netns_lab.plan_lab([dict(h, address6=None) for h in TWO6])
    assert texts(netns_lab.Builder(plan, FakeState(links, routes)).changes()) == [
        'ip -n host-a addr del fd00:91::201/64 dev eth0', 'ip -n host-b addr del fd00:91::202/64 dev eth0']


@pytest.mark.parametrize('hosts, message', [
    ([dict(TWO6[0], address6='fd00:91::/64')], 'hosts[0].address6: fd00:91::/64 is the subnet-router anycast'),
    ([dict(TWO6[0], address6='fe80::1/64')], 'hosts[0].address6: fe80::1/64 is a link-local'),
    ([dict(TWO6[0], address6='fd00:91::zz')], "hosts[0].address6: 'fd00:91::zz' is not an IPv6"),
    ([TWO6[0], dict(TWO6[1], address6='fd00:91::201/64')], 'hosts[1].address6: fd00:91::201 is also the address'),
    ([TWO6[0], dict(TWO6[1], address6='fd00:99::202/64')], 'share the IPv4 segment 172.16.91.0/24 but not one IPv6'),
    ([dict(TWO6[0], address6=None, gateway6='fd00:91::1')], 'hosts[0].gateway6: fd00:91::1 is given but'),
    ([TWO6[0], dict(THREE6[2], address6='fd00:91:0:0:1::3/80')], 'overlapping IPv6 subnets'),
    ([dict(TWO6[0], gateway='172.16.91.1', gateway6='fd00:91::201'), TWO6[1]], 'is the IPv6 gateway of fd00:91::/64'),
    ([dict(TWO6[0], gateway='172.16.91.1', gateway6='fd00:92::1'), TWO6[1]], 'hosts[0].gateway6: fd00:92::1 is not'),
])
def test_bad_v6_input_is_refused_naming_the_field(hosts, message):
    with pytest.raises(LabError) as error:
        netns_lab.plan_lab(hosts)
    assert message in str(error.value)
