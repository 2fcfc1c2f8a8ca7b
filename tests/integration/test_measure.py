"""playbooks/measure.yml on a netns lab (the seeds' two hosts), measured in BGP mode, then in VXLAN mode:
real iperf3 runs and probes between real namespaces. measure-<mode>.json holds the three kinds with
positive figures, the pictures are real PNG and SVG files, the PMTU verdicts match the MTU the pods'
eth0 really has, and no iperf3 of the lab is left running."""

import json
import os
from xml.etree import ElementTree

import pytest

from labtest import BIN, ROOT, Lab, ansible_env, assert_play, ip_json, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
SEEDS = os.path.join(ROOT, 'inventory', 'hosts.yml')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra),
               cwd=ROOT, env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=400)


def lab_iperf3(lab):
    """iperf3 processes of this lab (their pid file names a host or pod of it)."""
    found = []
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                argv = handle.read().split(b'\0')
        except (IOError, OSError):
            continue
        if argv and argv[0].endswith(b'iperf3') and any(lab.suffix.encode() in a for a in argv):
            found.append(pid)
    return found


def eth0_mtu(pod):
    return ip_json('-n', pod, 'link', 'show', 'dev', 'eth0')[0]['mtu']


def check_report(lab, report, mode, hosts):
    with open(os.path.join(report, 'measure-%s.json' % mode)) as handle:
        document = json.load(handle)
    assert document['mode'] == mode
    entries = document['entries']
    assert sorted(set(e['kind'] for e in entries)) == ['cross-host', 'same-host', 'underlay'], entries
    for entry in entries:
        assert entry['mode'] == mode
        assert entry['mbit_s'] > 0 and entry['rtt_ms'] > 0, entry
        assert entry['pmtu']['ok'], entry['pmtu']
    underlay = [e for e in entries if e['kind'] == 'underlay']
    assert [(e['source'], e['target']) for e in underlay] == [tuple(hosts)]
    cross = [e for e in entries if e['kind'] == 'cross-host']
    assert [e['path'] for e in cross] == ['VXLAN' if mode == 'vxlan' else 'plain']
    assert [e['path'] for e in entries if e['kind'] == 'same-host'] == ['local']
    for entry in entries:
        if entry['kind'] != 'underlay':
            assert entry['ratio'] == round(entry['mbit_s'] / underlay[0]['mbit_s'], 3)
            # The verdict is about the MTU the pod really has: VXLAN takes 50 bytes off the 1500 underlay.
            mtu = eth0_mtu(entry['source'])
            assert mtu == (1450 if mode == 'vxlan' else 1500)
            assert entry['pmtu']['mtu'] == mtu and entry['pmtu']['at_mtu']['passed']
            assert not entry['pmtu']['above_mtu']['passed'] and entry['pmtu']['above_mtu']['size'] == mtu + 1
    return entries


def test_measure_bgp_then_vxlan(tmp_path):
    lab = Lab()
    inventory = lab.inventory(SEEDS, tmp_path / 'hosts.yml')
    hosts = [lab.names['host-a'], lab.names['host-b']]
    report = str(tmp_path / 'report')
    try:
        assert_play(run_playbook('bgp.yml', inventory, '-e', 'calico_verify_capture=false'), hosts)
        output = assert_play(run_playbook('measure.yml', inventory, '-e', 'calico_measure_dir=%s' % report,
                                          '-e', 'calico_measure_time=2'), hosts)
        assert 'x underlay' in output and 'Mbit/s' in output
        (tmp_path / 'measure-bgp.out').write_text(output)
        assert not lab_iperf3(lab)
        check_report(lab, report, 'bgp', hosts)
        # Check mode starts no server, measures nothing and writes nothing.
        written = dict((f, os.stat(os.path.join(report, f)).st_mtime_ns) for f in os.listdir(report))
        output = assert_play(run_playbook('measure.yml', inventory, '--check', '-e', 'calico_measure_dir=%s' % report),
                             hosts)
        assert 'check mode - nothing measured, nothing written; the runs:' in output
        assert dict((f, os.stat(os.path.join(report, f)).st_mtime_ns) for f in os.listdir(report)) == written
        assert not lab_iperf3(lab)

        assert_play(run_playbook('vxlan.yml', inventory, '-e', 'calico_verify_capture=false'), hosts)
        output = assert_play(run_playbook('measure.yml', inventory, '-e', 'calico_measure_dir=%s' % report,
                                          '-e', 'calico_measure_time=2'), hosts)
        (tmp_path / 'measure-vxlan.out').write_text(output)
        assert not lab_iperf3(lab)
        check_report(lab, report, 'vxlan', hosts)
        # The servers' pid files go with them (and their directory with the last one).
        pid_dir = '/run/labnet-calico'
        assert not os.path.isdir(pid_dir) or not [f for f in os.listdir(pid_dir) if lab.suffix in f]

        with open(os.path.join(report, 'measure-throughput.png'), 'rb') as handle:
            png = handle.read()
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
        for mode in ('bgp', 'vxlan'):
            svg = ElementTree.parse(os.path.join(report, 'topology-%s.svg' % mode)).getroot()
            assert svg.tag == '{http://www.w3.org/2000/svg}svg'
            texts = ' '.join(t.text or '' for t in svg.iter('{http://www.w3.org/2000/svg}text'))
            assert all(h in texts for h in hosts) and '10.10.1.2' in texts
    finally:
        assert_play(run_playbook('teardown.yml', inventory), hosts)
        assert not lab_iperf3(lab)
