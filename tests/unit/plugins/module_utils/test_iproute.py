"""The shared layer on recorded ``ip -j`` output: normalising, argv building, validation."""
import json
import os
import re

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import iproute

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def routes():
    return dict((r['dst'], r) for r in (iproute.normalize_route(raw, 254) for raw in load('routes.json')))


def test_routes_normalise_to_comparable_values():
    by_dst = routes()
    assert by_dst['0.0.0.0/0']['proto'] == 3  # "proto boot" is left out by ip
    assert by_dst['10.10.0.0/24']['type'] == 'blackhole'
    assert by_dst['10.10.0.2/32'] == {'table': 254, 'type': 'unicast', 'dst': '10.10.0.2/32', 'via': None,
                                      'dev': 'd0', 'scope': 253, 'proto': 77, 'metric': 0, 'onlink': False,
                                      'mtu': None}
    assert by_dst['10.10.1.0/24']['metric'] == 5
    assert by_dst['10.10.2.0/24']['onlink'] and by_dst['10.10.2.0/24']['proto'] == 12


def test_route_argv_describes_the_route_back():
    by_dst = routes()
    assert iproute.route_argv(by_dst['10.10.2.0/24']) == [
        '10.10.2.0/24', 'via', '172.16.91.203', 'dev', 'd1', 'onlink', 'scope', 'global', 'proto', '12']
    assert iproute.route_argv(by_dst['10.10.0.0/24']) == ['blackhole', '10.10.0.0/24', 'proto', '78']
    assert iproute.route_text(by_dst['10.10.0.2/32'], 'pod1') == '[pod1] 10.10.0.2/32 dev d0 scope link proto 77'


def test_links_normalise_with_addresses_alias_and_peer():
    links = dict((l['name'], l) for l in (iproute.normalize_link(raw) for raw in load('links.json')))
    d0 = links['d0']
    assert d0['kind'] == 'veth' and d0['mac'] == 'ee:ee:ee:ee:ee:ee' and d0['up']
    assert d0['addresses'] == ['172.16.91.201/24']
    assert iproute.is_lab_alias(d0['alias'])


def test_workload_interface_name_is_calico_style():
    name = iproute.workload_host_ifname('netns01')
    assert name.startswith('cali') and len(name) == 15
    assert name == iproute.workload_host_ifname('netns01') != iproute.workload_host_ifname('netns02')


@pytest.mark.parametrize('check, value, message', [
    (iproute.check_ifname, 'a' * 16, 'at most 15'),
    (iproute.check_ifname, 'eth 0', 'may contain only'),
    (iproute.check_netns, '../x', 'network namespace name'),
    (iproute.check_mac, 'ee:ee:ee', 'not a MAC'),
    (iproute.check_mtu, 40, 'outside'),
    (iproute.parse_ipv4_address, '300.1.1.1', 'not an IPv4 address'),
    (iproute.parse_ipv4_network, '10.10.0.1/24', 'not an IPv4 network'),
    (iproute.parse_ipv6_address, 'fd00::g', 'not an IPv6 address'),
    (iproute.parse_ipv6_address, '10.0.0.1', 'not an IPv6 address'),
    (iproute.parse_ipv6_network, 'fd00::1/64', 'not an IPv6 network'),
    (iproute.parse_ipv6_network, 'default', 'not an IPv6 network'),
    (iproute.parse_ipv6_interface, 'fd00::1/129', 'not an IPv6 address with prefix'),
])
def test_bad_values_are_refused_naming_the_field(check, value, message):
    with pytest.raises(iproute.LabError) as error:
        check(value, 'routes[3].dev')
    assert str(error.value).startswith('routes[3].dev: ') and message in str(error.value)


def test_empty_json_output_is_an_empty_list():
    assert iproute.parse_json_output('') == [] and iproute.parse_json_output('[ ]\n') == []


def test_kernel_fallback_tunnels_are_known_by_name_and_kind():
    assert iproute.is_kernel_fallback({'name': 'tunl0', 'kind': 'ipip'})
    assert not iproute.is_kernel_fallback({'name': 'tunl0', 'kind': 'veth'})   # someone's veth named so
    assert not iproute.is_kernel_fallback({'name': 'eth0', 'kind': None})


# Vectors from Calico's definition (VethNameForWorkload): "cali" + the first 11 hex digits of
# sha1("<namespace>.<pod>"), computed independently with `printf %s default.netns01 | sha1sum`.
@pytest.mark.parametrize('namespace, pod, name', [
    ('default', 'netns01', 'caliadc59a9f7cf'),
    ('default', 'netns02', 'cali3bea9ef1a58'),
    ('default', 'netns03', 'calie18558ea013'),
    ('default', 'netns04', 'cali419da08a164'),
    ('kube-system', 'coredns-abc', 'cali3d5d6ab04b5'),
])
def test_pod_host_ifname_is_calicos(namespace, pod, name):
    assert iproute.workload_id(namespace, pod) == '%s.%s' % (namespace, pod)
    assert iproute.workload_host_ifname(iproute.workload_id(namespace, pod)) == name


@pytest.mark.parametrize('value', ['default', 'kube-system', 'a', '0', 'n' * 63, 'team-1'])
def test_kubernetes_namespaces_accepted(value):
    assert iproute.check_k8s_namespace(value, 'f') == value


@pytest.mark.parametrize('value', ['', 'Default', '-a', 'a-', 'a.b', 'a_b', 'n' * 64, 'a b', None, 7])
def test_kubernetes_namespaces_refused_with_field_and_value(value):
    with pytest.raises(iproute.LabError, match=r'^f: Kubernetes namespace %s' % re.escape(repr(value))):
        iproute.check_k8s_namespace(value, 'f')


def test_ipv6_values_are_parsed_compressed():
    assert str(iproute.parse_ipv6_network('fd00:10:244:0::/122', 'x')) == 'fd00:10:244::/122'
    assert str(iproute.parse_ipv6_network('::/0', 'x')) == '::/0'
    assert str(iproute.parse_ipv6_network('fd00::2', 'x')) == 'fd00::2/128'
    assert str(iproute.parse_ipv6_address(' fd00:0091::0201 ', 'x')) == 'fd00:91::201'
    assert str(iproute.parse_ipv6_interface('fd00:91::201', 'x', 64)) == 'fd00:91::201/64'
    assert str(iproute.parse_ipv6_interface('fd00:91::201', 'x')) == 'fd00:91::201/128'
