"""IPv6 in the shared layer, on recorded ``ip -6 -N -j route`` and ``ip -j -d addr`` output."""
import json
import os

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import iproute, ipfamily

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def routes6():
    return [iproute.normalize_route(raw, 254, family=6) for raw in load('routes6.json')]


def test_ipv6_routes_normalise_without_scope_and_with_the_kernel_metric():
    by_key = dict(((r['dst'], r['dev']), r) for r in routes6())
    host = by_key[('fd00:10:244::2/128', 'h0')]
    assert host == {'table': 254, 'type': 'unicast', 'dst': 'fd00:10:244::2/128', 'via': None, 'dev': 'h0',
                    'scope': None, 'proto': 77, 'metric': 1024, 'onlink': False, 'mtu': None}
    default = by_key[('::/0', 'eth0')]
    assert default['via'] == 'fe80::ecee:eeff:feee:eeee' and default['proto'] == 77
    # A v6 blackhole shows "dev lo": it is no part of the route.
    assert by_key[('fd00:10:244::/122', None)]['type'] == 'blackhole'
    tunnel = by_key[('fd00:10:245::/122', 'eth0')]
    assert tunnel['onlink'] and tunnel['mtu'] == 1430


def test_ipv6_route_argv_has_no_scope_and_reads_back():
    by_dst = dict((r['dst'], r) for r in routes6() if r['proto'] == 77)
    assert iproute.route_argv(by_dst['::/0']) == [
        '::/0', 'via', 'fe80::ecee:eeff:feee:eeee', 'dev', 'eth0', 'proto', '77', 'metric', '1024']
    assert iproute.route_argv(by_dst['fd00:10:244::/122']) == [
        'blackhole', 'fd00:10:244::/122', 'proto', '77', 'metric', '1024']
    assert iproute.route_argv(by_dst['fd00:10:245::/122']) == [
        'fd00:10:245::/122', 'via', 'fe80::1', 'dev', 'eth0', 'onlink', 'proto', '77', 'metric', '1024',
        'mtu', '1430']


def test_ipv4_default_is_still_ipv4():
    route = iproute.normalize_route({'dst': 'default', 'gateway': '169.254.1.1', 'dev': 'eth0'}, 254)
    assert route['dst'] == '0.0.0.0/0' and route['scope'] == 0
    assert str(iproute.parse_ip_network('default', 'dest')) == '0.0.0.0/0'
    assert iproute.parse_ip_network('::/0', 'dest').version == 6


def test_links_list_global_ipv6_addresses_apart_from_ipv4_and_without_link_local():
    link = iproute.normalize_link(load('addr6.json')[0])
    assert link['addresses'] == ['10.9.0.2/32']
    assert link['addresses6'] == ['fd00:10:244::2/128']


@pytest.mark.parametrize('parse, value, message', [
    (iproute.parse_ip_address, 'fe80::zz', 'not an IPv4 or IPv6 address'),
    (iproute.parse_ip_network, 'fd00::1/64', 'not an IPv4 or IPv6 network'),
])
def test_family_aware_parsing_names_the_field(parse, value, message):
    with pytest.raises(iproute.LabError, match='^f: .*' + message):
        parse(value, 'f')


def test_ipfamily_facts():
    assert ipfamily.family_of('default') == 4 and ipfamily.family_of('fd00::/64') == 6
    assert ipfamily.network_text('default', 6) == '::/0'
    assert ipfamily.network_text('fd00:10:244::2', 6) == 'fd00:10:244::2/128'
    assert ipfamily.is_link_local(ipfamily.CALICO_GATEWAY_V6) and not ipfamily.is_link_local('fd00::1')
    assert not ipfamily.is_link_local('169.254.1.1')
