"""module_utils/lab_pictures.py: the ASCII drawing, the topology SVG (parsed) and the throughput PNG
(its magic bytes and size) drawn from plans and measurements."""

import struct
from xml.etree import ElementTree

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import lab_pictures
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_measure import SEEDS, TWO_SUBNETS, plan_of
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_dual_stack_plan import plan as dual_stack_plan
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_ipv6_only_plan import plan as ipv6_only_plan

SVG = '{http://www.w3.org/2000/svg}'


def test_ascii_seeds_lab():
    lines = lab_pictures.lab_ascii(plan_of(SEEDS), 'bgp')
    text = '\n'.join(lines)
    assert lines[0].startswith('Lab (BGP')
    for word in ('| host-a', '| 172.16.91.201/24', 'block 10.10.1.0/24', '[netns04 10.10.1.2]', 'underlay 172.16.91.0/24',
                 '  veth cali'):
        assert word in text
    # Short enough for the YAML callback (80 columns) not to fold a line.
    assert max(len(line) for line in lines) <= 80
    assert 'tunl0' not in text
    # The two boxes side by side, one underlay line under both.
    assert sum(1 for line in lines if line.startswith('====')) == 1
    assert any('host-a' in line and 'host-b' in line for line in lines)


def test_ascii_two_subnets_vxlan():
    text = '\n'.join(lab_pictures.lab_ascii(plan_of(TWO_SUBNETS, 'vxlan', 'cross_subnet'), 'vxlan'))
    assert text.count('underlay 192.168.8') == 2 and 'joined by a router' in text
    lines = lab_pictures.lab_ascii(plan_of(TWO_SUBNETS[:2] + [('node-4', '192.168.81.14/24', '10.244.1.0/26', [])]))
    assert sum(1 for line in lines if '| node-' in line) == 2    # three hosts on one subnet: two rows
    assert 'vxlan.calico 10.244.0.128' in text
    with pytest.raises(LabError):
        lab_pictures.lab_ascii({})


def test_topology_svg_parses_with_hosts_pods_subnets_and_mode():
    svg = lab_pictures.topology_svg(plan_of(TWO_SUBNETS, 'vxlan', 'cross_subnet'), 'vxlan')
    root = ElementTree.fromstring(svg.encode())
    assert root.tag == SVG + 'svg'
    texts = [t.text for t in root.iter(SVG + 'text')]
    joined = ' '.join(texts)
    for word in ('node-1', 'node-3', 'pod-3b 10.244.0.130', 'underlay 192.168.81.0/24', 'underlay 192.168.82.0/24',
                 'VXLAN', 'vxlan.calico'):
        assert word in joined, word
    assert len([g for g in root.iter(SVG + 'g') if g.get('class') == 'host']) == 3
    assert len([r for r in root.iter(SVG + 'rect') if r.get('class') == 'pod']) == 4
    assert len(list(root.iter(SVG + 'path'))) == 3   # one line between each pair of hosts
    assert 'stroke-dasharray' in svg    # a tunnel mode draws dashed tunnels
    assert 'stroke-dasharray' not in lab_pictures.topology_svg(plan_of(SEEDS), 'bgp')


# inventories/ipv6-only's plan, written out by hand: what each host and pod is to be drawn with.
V6_ONLY_WORDS = ('fd00:91::201/64', 'block fd00:10:244::/122', 'netns01 fd00:10:244::1', 'netns02 fd00:10:244::2',
                 'fd00:91::202/64', 'block fd00:10:244::40/122', 'netns03 fd00:10:244::41',
                 'netns04 fd00:10:244::4a', 'underlay fd00:91::/64')


def test_ipv6_only_hosts_are_drawn_with_their_ipv6_values():
    # The plan has None in every IPv4 key: the SVG drew nothing of such a host (it failed on None).
    svg = lab_pictures.topology_svg(ipv6_only_plan(mode='vxlan'), 'vxlan')
    root = ElementTree.fromstring(svg.encode())
    joined = ' '.join(t.text for t in root.iter(SVG + 'text'))
    for word in V6_ONLY_WORDS + ('eth0 fd00:91::201/64', 'between hosts: vxlan-v6.calico (VXLAN, VNI 4096)'):
        assert word in joined, (word, joined)
    # No IPv4 device in an IPv6-only lab, no None for an IPv4 value.
    assert 'vxlan.calico' not in joined and 'None' not in joined, joined
    assert len([g for g in root.iter(SVG + 'g') if g.get('class') == 'host']) == 2
    assert len([r for r in root.iter(SVG + 'rect') if r.get('class') == 'pod']) == 4
    text = '\n'.join(lab_pictures.lab_ascii(ipv6_only_plan(mode='vxlan'), 'vxlan'))
    for word in V6_ONLY_WORDS + ('vxlan-v6.calico fd00:10:244::40', 'between hosts: vxlan-v6.calico (VXLAN'):
        assert word in text.replace('[', '').replace(']', ''), (word, text)
    assert 'vxlan.calico' not in text and 'None' not in text, text
    # BGP mode: plain routes, no tunnel device in the boxes.
    text = '\n'.join(lab_pictures.lab_ascii(ipv6_only_plan(), 'bgp'))
    assert 'vxlan' not in text and 'between hosts' not in text and '[netns04 fd00:10:244::4a]' in text, text


def test_dual_stack_vxlan_names_both_devices():
    svg = lab_pictures.topology_svg(dual_stack_plan(mode='vxlan'), 'vxlan')
    assert 'between hosts: vxlan.calico and vxlan-v6.calico (VXLAN, VNI 4096)' in svg
    # A dual-stack host is drawn with its IPv4 values, as before.
    assert 'eth0 172.16.91.201/24' in svg and 'netns01 10.10.0.2' in svg
    lines = lab_pictures.lab_ascii(dual_stack_plan(mode='vxlan'), 'vxlan')
    assert lines[-1] == 'between hosts: vxlan.calico and vxlan-v6.calico (VXLAN, VNI 4096)', lines


def documents():
    def entries(mode, speeds):
        kinds = [('underlay', 'plain'), ('same-host', 'local'), ('cross-host', 'plain' if mode == 'bgp' else 'VXLAN')]
        return [{'kind': k, 'path': p, 'mode': mode, 'mbit_s': s, 'rtt_ms': 0.05} for (k, p), s in zip(kinds, speeds)]
    return [{'mode': 'bgp', 'entries': entries('bgp', [20000.0, 30000.0, 18000.0])},
            {'mode': 'vxlan', 'entries': entries('vxlan', [21000.0, 29000.0, 9000.0])}]


def test_chart_rows_compare_modes():
    labels, modes, values = lab_pictures.chart_rows(documents())
    assert labels == ['underlay', 'same-host', 'cross-host plain', 'cross-host VXLAN']
    assert modes == ['bgp', 'vxlan']
    assert values == {'bgp': [20000.0, 30000.0, 18000.0, None], 'vxlan': [21000.0, 29000.0, None, 9000.0]}


def test_throughput_png_is_a_real_png(tmp_path):
    pytest.importorskip('matplotlib')
    path = str(tmp_path / 'chart.png')
    lab_pictures.throughput_png(documents(), path)
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR'
    width, height = struct.unpack('!II', data[16:24])
    assert width >= 600 and height >= 400 and len(data) > 10000
    with pytest.raises(LabError, match='no measurements'):
        lab_pictures.throughput_png([], path)
