# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measuring the datapath: which pairs to measure, iperf3's argv and JSON, the DF probe, the report.

Shared by the pod_iperf and lab_report modules and the calico_measure_pairs filter. Nothing here runs
a shell: argv lists only, every run bounded by ``timeout`` and iperf3's own limits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import select
import socket
import time

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.ping import echo_request, enter_netns, parse_icmp

KINDS = ('underlay', 'same-host', 'cross-host')
# How the host routes a destination, by the route's device (the rest: cali* is local, else plain).
PATH_BY_DEV = {'tunl0': 'IP-in-IP', 'vxlan.calico': 'VXLAN'}
MODE_BY_PATH = {'IP-in-IP': 'ipip', 'VXLAN': 'vxlan'}
# option: (lowest, highest)
IPERF_LIMITS = {'time': (1, 30), 'connect_timeout': (100, 10000), 'port': (1024, 65535)}
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_MTU = 10, 2, 14
IP_ICMP_HEADERS = 28   # a 20-byte IPv4 header and an 8-byte ICMP header


def path_of_dev(dev):
    """'IP-in-IP', 'VXLAN', 'local' (a pod of this host) or 'plain' for a route's output device."""
    if dev in PATH_BY_DEV:
        return PATH_BY_DEV[dev]
    if dev and dev.startswith('cali'):
        return 'local'
    return 'plain'


def measure_pairs(plan, port=5201):
    """The runs to measure on a lab, from its plan, in order.

    - underlay: host to host (both in their own network namespace), one per host pair a cross-host run
      uses (the limit those pods' traffic crosses);
    - same-host: the first two pods of the first host with two pods;
    - cross-host: the first pod of the first host with pods to the first pod of a peer, one peer per path
      (a peer on the same underlay subnet, one on another subnet - cross_subnet's two paths).
    Each pod run names its ``baseline``: the id of the underlay run it is compared with.
    """
    hosts = sorted(plan)
    runs, underlays = [], {}

    def add(kind, client, server, client_netns, server_netns, server_ip, baseline=None):
        run = {'id': '%s %s -> %s' % (kind, client_netns or client, server_netns or server), 'kind': kind,
               'client_host': client, 'client_netns': client_netns, 'server_host': server,
               'server_netns': server_netns, 'server_ip': server_ip, 'port': port, 'baseline': baseline}
        runs.append(run)
        return run['id']

    source = next((h for h in hosts if plan[h]['workloads']), None)
    cross = []
    if source:
        seen = set()
        for peer in plan[source]['peers']:
            theirs = plan[peer['name']]['workloads']
            if theirs and peer['same_subnet'] not in seen:
                seen.add(peer['same_subnet'])
                cross.append((peer['name'], theirs[0]))
    if not cross and len(hosts) > 1:
        underlays[(hosts[0], hosts[1])] = None
    for peer, _pod in cross:
        underlays[(source, peer)] = None
    for (client, server) in list(underlays):
        underlays[(client, server)] = add('underlay', client, server, None, None, plan[server]['node_ip'])
    first_underlay = next(iter(underlays.values()), None)
    pair_host = next((h for h in hosts if len(plan[h]['workloads']) >= 2), None)
    if pair_host:
        one, two = plan[pair_host]['workloads'][:2]
        local = underlays.get((pair_host, next((s for c, s in underlays if c == pair_host), None)), first_underlay)
        add('same-host', pair_host, pair_host, one['netns'], two['netns'], two['ip'], local)
    for peer, pod in cross:
        add('cross-host', source, peer, plan[source]['workloads'][0]['netns'], pod['netns'], pod['ip'],
            underlays[(source, peer)])
    return runs


def check_iperf_options(params):
    for option, (low, high) in sorted(IPERF_LIMITS.items()):
        value = params.get(option)
        if value is not None and not low <= value <= high:
            raise LabError('%s: %d is outside %d-%d' % (option, value, low, high))


def in_netns(ip, netns, argv):
    """ARGV run inside the named network namespace NETNS (None: where the module runs)."""
    return ([ip, 'netns', 'exec', netns] if netns else []) + list(argv)


def server_argv(iperf3, port, pidfile, idle_timeout, bind=None):
    """A daemonised one-off iperf3 server that also ends by itself after IDLE_TIMEOUT idle seconds."""
    argv = [iperf3, '--server', '--one-off', '--daemon', '--pidfile', pidfile, '--port', str(port),
            '--idle-timeout', str(idle_timeout)]
    if bind:
        argv += ['--bind', bind]
    return argv


def client_argv(iperf3, server, port, seconds, connect_timeout_ms):
    """A bounded TCP run against SERVER, JSON on stdout."""
    return [iperf3, '--client', server, '--port', str(port), '--time', str(seconds), '--json',
            '--connect-timeout', str(connect_timeout_ms)]


def run_bound(seconds, connect_timeout_ms):
    """Seconds after which the whole client run is killed (the test, the connection, the results)."""
    return seconds + connect_timeout_ms // 1000 + 10


def parse_iperf_json(text):
    """{'mbit_s', 'retransmits', 'seconds'} from iperf3 --json output (the receiver's figure), or
    raises LabError with iperf3's own error text."""
    try:
        data = json.loads(text)
    except ValueError:
        raise LabError('iperf3 printed no JSON: %s' % (text.strip()[:300] or 'nothing'))
    if not isinstance(data, dict):
        raise LabError('iperf3 printed no JSON object')
    if data.get('error'):
        raise LabError('iperf3: %s' % data['error'])
    end = data.get('end') or {}
    received = end.get('sum_received') or {}
    sent = end.get('sum_sent') or {}
    if not received.get('bits_per_second'):
        raise LabError('iperf3: no received throughput in its results')
    return {'mbit_s': round(received['bits_per_second'] / 1e6, 1), 'retransmits': sent.get('retransmits'),
            'seconds': round(received.get('seconds') or 0, 2)}


def rtt_summary(samples_ms):
    """min, avg, max of the RTT samples in ms (None when none came back)."""
    if not samples_ms:
        return {'min': None, 'avg': None, 'max': None, 'samples': 0}
    return {'min': round(min(samples_ms), 3), 'avg': round(sum(samples_ms) / len(samples_ms), 3),
            'max': round(max(samples_ms), 3), 'samples': len(samples_ms)}


def rtt_samples(address, count, interval, wait=1.0, clock=time.monotonic):
    """COUNT echo requests to ADDRESS from the current namespace, one at a time; the RTTs in ms."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    samples = []
    try:
        ident = os.getpid() & 0xffff
        for seq in range(count):
            if seq:
                time.sleep(interval)
            sent = clock()
            sock.sendto(echo_request(ident, seq, b'labnet.calico.rtt'), (address, 0))
            try:
                if _await_reply(sock, ident, seq, sent + wait, clock):
                    samples.append((clock() - sent) * 1000.0)
            except LabError:
                pass  # an ICMP error is a lost sample
    finally:
        sock.close()
    return samples


def _await_reply(sock, ident, seq, end, clock):
    """True when the echo reply of (IDENT, SEQ) came before END; an ICMP error about it: raise LabError."""
    while True:
        left = end - clock()
        if left <= 0:
            return False
        ready, _w, _x = select.select([sock], [], [], left)
        if not ready:
            return False
        parsed = parse_icmp(sock.recv(65535))
        if parsed and parsed[1] == ident and parsed[2] == seq:
            if parsed[0] == 'reply':
                return True
            raise LabError(parsed[4])


def df_probe(address, size, wait=1.0, attempts=2, clock=time.monotonic):
    """One echo request of SIZE bytes (IP packet) with Don't Fragment set, from the current namespace.

    Returns {'size', 'passed', 'detail'}: passed when a reply came back; otherwise why not - the kernel
    refused to send it (message too long, the route's or device's MTU) or nothing came back.
    ATTEMPTS requests at most (the first can teach the kernel a smaller path MTU from an ICMP error).
    """
    data_length = size - IP_ICMP_HEADERS
    if data_length < 8:
        raise LabError('size: %d is below the smallest echo request of %d bytes' % (size, IP_ICMP_HEADERS + 8))
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        ident = os.getpid() & 0xffff
        detail = 'no reply'
        for seq in range(attempts):
            sent = clock()
            try:
                sock.sendto(echo_request(ident, seq, b'D' * data_length), (address, 0))
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
                return {'size': size, 'passed': False, 'detail': 'not sent: message too long (%d bytes with Don\'t '
                        'Fragment, more than the MTU on the way)' % size}
            try:
                if _await_reply(sock, ident, seq, sent + wait, clock):
                    return {'size': size, 'passed': True, 'detail': 'reply'}
            except LabError as exc:
                detail = str(exc)
        return {'size': size, 'passed': False, 'detail': detail}
    finally:
        sock.close()


def run_in_netns(netns, function, *args):
    """FUNCTION(*ARGS) in a forked child that entered NETNS (None: here, no fork); its JSON result.
    LabError and OSError in the child come back as LabError."""
    if not netns:
        return function(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        status = 1
        try:
            try:
                enter_netns(netns)
                answer = {'result': function(*args)}
            except (LabError, OSError) as exc:
                answer = {'error': '%s: %s' % (netns, getattr(exc, 'strerror', None) or exc)}
            payload = json.dumps(answer).encode()
            while payload:
                payload = payload[os.write(write_fd, payload):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    try:
        answer = json.loads(b''.join(chunks).decode())
    except ValueError:
        raise LabError('%s: the probe ended without an answer' % netns)
    if 'error' in answer:
        raise LabError(answer['error'])
    return answer['result']


def pmtu_verdict(mtu, at_mtu, above):
    """The PMTU check: a DF probe of MTU bytes must pass and one of MTU + 1 must fail."""
    ok = bool(at_mtu['passed']) and not above['passed']
    text = ('MTU %d: %d bytes with DF %s, %d bytes %s - %s'
            % (mtu, at_mtu['size'], 'passed' if at_mtu['passed'] else 'FAILED (%s)' % at_mtu['detail'],
               above['size'], 'failed as it must (%s)' % above['detail'] if not above['passed'] else 'PASSED',
               'as the MTU says' if ok else 'NOT as the MTU says'))
    return {'mtu': mtu, 'at_mtu': at_mtu, 'above_mtu': above, 'ok': ok, 'text': text}


def lab_mode(entries, declared=None):
    """The lab's mode: DECLARED when given, else what the cross-host routes showed (ipip, vxlan, bgp)."""
    if declared:
        return declared
    for entry in entries:
        if entry.get('kind') == 'cross-host' and entry.get('path') in MODE_BY_PATH:
            return MODE_BY_PATH[entry['path']]
    return 'bgp'


def report_entries(runs, results, mode):
    """The report's entries: one per run, joined with its client's result, each with its ratio to the
    underlay run it is compared with. RESULTS: {run id: pod_iperf's client result}."""
    entries = []
    for run in runs:
        result = results.get(run['id']) or {}
        rtt = result.get('rtt') or rtt_summary([])
        entry = {'id': run['id'], 'kind': run['kind'], 'mode': mode,
                 'source': run['client_netns'] or run['client_host'], 'source_host': run['client_host'],
                 'target': run['server_netns'] or run['server_host'], 'target_host': run['server_host'],
                 'target_ip': run['server_ip'], 'path': result.get('path'),
                 'mbit_s': result.get('mbit_s'), 'retransmits': result.get('retransmits'),
                 'rtt_ms': rtt.get('avg'), 'rtt': rtt, 'baseline': run.get('baseline'), 'ratio': None}
        if result.get('pmtu'):
            entry['pmtu'] = result['pmtu']
        entries.append(entry)
    speed = dict((e['id'], e['mbit_s']) for e in entries)
    for entry in entries:
        base = speed.get(entry['baseline'])
        if base and entry['mbit_s'] is not None:
            entry['ratio'] = round(entry['mbit_s'] / base, 3)
    return entries


def report_table(entries):
    """The play's table: every run, its Mbit/s, RTT and (pod paths) its ratio to the underlay."""
    header = ('kind', 'pair', 'path', 'Mbit/s', 'RTT ms', 'x underlay', 'PMTU')
    rows = [header]
    for e in entries:
        pmtu = e.get('pmtu')
        rows.append((e['kind'], '%s -> %s' % (e['source'], e['target']), e['path'] or '-',
                     '%.1f' % e['mbit_s'] if e['mbit_s'] is not None else 'failed',
                     '%.3f' % e['rtt_ms'] if e['rtt_ms'] is not None else '-',
                     '%.2f' % e['ratio'] if e['ratio'] is not None else ('1.00' if e['kind'] == 'underlay' else '-'),
                     ('ok %d' % pmtu['mtu'] if pmtu['ok'] else 'WRONG %d' % pmtu['mtu']) if pmtu else '-'))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def report_document(entries, mode, lab=None):
    """What measure-<mode>.json holds."""
    return {'format': 1, 'mode': mode, 'lab': lab, 'kinds': list(KINDS), 'entries': entries}


def check_document(document):
    """Problems of a measure-<mode>.json document (a list of texts; empty when it is sound)."""
    problems = []
    if not isinstance(document, dict) or not isinstance(document.get('entries'), list):
        return ['no entries list']
    for index, entry in enumerate(document['entries']):
        for key in ('kind', 'mode', 'mbit_s', 'rtt_ms'):
            if key not in entry:
                problems.append('entries[%d]: no %s' % (index, key))
        if entry.get('kind') not in KINDS:
            problems.append('entries[%d].kind: %r' % (index, entry.get('kind')))
    return problems
