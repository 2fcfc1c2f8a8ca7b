# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded ICMP echo probes from pods' network namespaces, shared by pod_ping and pod_capture.

No ``ping`` process: for each source namespace one forked child enters it (setns on /run/netns/NAME),
opens one raw ICMP socket (and one raw ICMPv6 socket when it has IPv6 targets) and keeps many echo
requests in flight, matching replies by identifier and sequence and reading each reply's TTL from its
IP header - or, over IPv6, where a raw socket gets no IP header, the hop limit from the IPV6_HOPLIMIT
ancillary data (IPV6_RECVHOPLIMIT, RFC 3542). The parent only reads the children's JSON from pipes, so
a module prints one result whatever a child met.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import errno
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import time

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import family_of

# How a pod's packets can cross the underlay (pod_capture's words, and its judge's in verify).
ENCAPSULATION_NAMES = {'none': 'plain', 'ipip': 'IP-in-IP', 'vxlan': 'VXLAN'}

# option: (lowest, highest) - every probe is bounded in count and time.
PING_LIMITS = {'count': (1, 20), 'deadline': (1, 30)}
# Seconds between rounds: ping's default, and the least a caller may ask (a round also waits for the
# previous one's replies, so a short interval sends no faster than the path answers).
DEFAULT_INTERVAL = 0.2
MIN_INTERVAL = 0.01

NETNS_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED = 0, 3, 8, 11
ICMP_ERRORS = {3: 'Destination Unreachable', 11: 'Time to live exceeded'}
UNREACHABLE_CODES = {0: 'Destination Net Unreachable', 1: 'Destination Host Unreachable',
                     3: 'Destination Port Unreachable', 13: 'Packet filtered'}
ICMP6_UNREACHABLE, ICMP6_TOO_BIG, ICMP6_TIME_EXCEEDED = 1, 2, 3
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
ICMP6_ERRORS = {1: 'Destination unreachable', 2: 'Packet too big', 3: 'Time exceeded: Hop limit'}
UNREACHABLE6_CODES = {0: 'No route', 1: 'Administratively prohibited', 3: 'Address unreachable',
                      4: 'Port unreachable', 6: 'Reject route to destination'}
IPV6_HEADER = 40
NEXT_HEADER_ICMPV6 = 58
REPLY_WAIT = 1.0        # seconds a request waits for its reply (ping -W 1)
WINDOW = 64             # requests awaiting a reply younger than STALL at most (flow control)
STALL = 0.02            # a request older than this no longer holds the window (a dead path cannot stall it)
DATA_LENGTH = 56        # echo data bytes, as ping's default
RECEIVE_BUFFER = 4 * 1024 * 1024
MAX_PROBES = 0xffff     # sequence numbers of one source


# pod_ping's rows: one line of text per pair, these fields apart by single spaces ('-' for none), the
# errors last (' | ' between them). Ansible carries one string far faster than a dict of eleven keys,
# and a full matrix at a few hundred pods is hundreds of thousands of pairs.
ROW_FIELDS = ('source', 'target', 'ip', 'family', 'sent', 'received', 'ttl', 'rtt_avg_ms', 'host_dev', 'host_gateway')
ROW_NUMBERS = {'sent': int, 'received': int, 'ttl': int, 'rtt_avg_ms': float}


def result_row(result):
    """One pod_ping result as its row (ROW_FIELDS, then its errors)."""
    fields = ['-' if result.get(key) is None else str(result[key]) for key in ROW_FIELDS]
    return ' '.join(fields + [' | '.join(result.get('error') or [])]).rstrip()


def row_result(row):
    """A row back into pod_ping's result (with 'ok', and 'error' when it has errors)."""
    parts = row.split(' ', len(ROW_FIELDS))
    result = {}
    for key, value in zip(ROW_FIELDS, parts):
        result[key] = None if value == '-' else ROW_NUMBERS.get(key, str)(value)
    result['ok'] = result['received'] > 0
    if len(parts) > len(ROW_FIELDS):
        result['error'] = parts[-1].split(' | ')
    return result


def ping_argument_spec(count):
    """The count, interval and deadline options of a module that pings, COUNT requests by default."""
    return dict(count=dict(type='int', default=count), interval=dict(type='float', default=DEFAULT_INTERVAL),
                deadline=dict(type='int', default=5))


def check_ping_options(params):
    """Refuse counts, deadlines and intervals outside the bounds, naming the option."""
    for option, (low, high) in sorted(PING_LIMITS.items()):
        if not low <= params[option] <= high:
            raise LabError('%s: %d is outside %d-%d' % (option, params[option], low, high))
    if params['interval'] < MIN_INTERVAL:
        raise LabError('interval: at least %s seconds' % MIN_INTERVAL)


def checksum(data):
    """The Internet checksum (RFC 1071) of DATA."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def echo_request(ident, seq, data):
    """An ICMP echo request (header and DATA) with its checksum."""
    header = struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, checksum(header + data), ident, seq) + data


def echo_request6(ident, seq, data):
    """An ICMPv6 echo request; its checksum (over a pseudo-header with both addresses) is the
    kernel's: a raw IPPROTO_ICMPV6 socket always computes it (RFC 3542 3.1)."""
    return struct.pack('!BBHHH', ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + data


def parse_icmp(packet):
    """What a raw ICMP socket read: ('reply', ident, seq, source, ttl) for an echo reply, ('error', ident,
    seq, source, text) for an ICMP error quoting one of our requests, else None."""
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    header = (packet[0] & 0x0f) * 4
    source, ttl = socket.inet_ntoa(packet[12:16]), packet[8]
    icmp = packet[header:]
    if len(icmp) < 8:
        return None
    kind, code = icmp[0], icmp[1]
    if kind == ICMP_ECHO_REPLY:
        ident, seq = struct.unpack('!HH', icmp[4:8])
        return ('reply', ident, seq, source, ttl)
    if kind in ICMP_ERRORS and len(icmp) >= 36:
        quoted = icmp[8:]
        inner = (quoted[0] & 0x0f) * 4
        if len(quoted) >= inner + 8 and quoted[inner] == ICMP_ECHO_REQUEST:
            ident, seq = struct.unpack('!HH', quoted[inner + 4:inner + 8])
            text = UNREACHABLE_CODES.get(code, ICMP_ERRORS[kind]) if kind == ICMP_UNREACHABLE else ICMP_ERRORS[kind]
            return ('error', ident, seq, source, 'From %s: %s' % (source, text))
    return None


def parse_icmp6(message, source, hop_limit):
    """What a raw ICMPv6 socket read (the ICMPv6 message only, from SOURCE, with the HOP_LIMIT of its
    ancillary data): parse_icmp's tuples, the hop limit where parse_icmp has the TTL."""
    if len(message) < 8:
        return None
    kind, code = message[0], message[1]
    if kind == ICMP6_ECHO_REPLY:
        ident, seq = struct.unpack('!HH', message[4:8])
        return ('reply', ident, seq, source, hop_limit)
    # An error quotes as much of the invoking packet as fits: its IPv6 header, then our echo request.
    quoted = message[8:]
    if kind in ICMP6_ERRORS and len(quoted) >= IPV6_HEADER + 8 and quoted[6] == NEXT_HEADER_ICMPV6 \
            and quoted[IPV6_HEADER] == ICMP6_ECHO_REQUEST:
        ident, seq = struct.unpack('!HH', quoted[IPV6_HEADER + 4:IPV6_HEADER + 8])
        text = ICMP6_ERRORS[kind]
        if kind == ICMP6_UNREACHABLE:
            text += ': ' + UNREACHABLE6_CODES.get(code, 'code %d' % code)
        return ('error', ident, seq, source, 'From %s: %s' % (source, text))
    return None


def enter_netns(name):
    """Move this (single-threaded, forked) process into the network namespace NAME."""
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        if hasattr(os, 'setns'):
            os.setns(fd, CLONE_NEWNET)
            return
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)


def _new_result():
    return {'sent': 0, 'received': 0, 'ttl': None, 'rtts': [], 'errors': []}


def _open_sockets(families):
    """{4: raw ICMP socket, 6: raw ICMPv6 socket} for the FAMILIES probed, non-blocking."""
    socks = {}
    try:
        for version in sorted(families):
            if version == 4:
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            else:
                sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                # The hop limit of each reply comes as ancillary data: no IPv6 header on a raw socket.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            socks[version] = sock
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            except OSError:
                pass  # the default buffer still works, with more of the window's flow control
            sock.setblocking(False)
    except OSError:
        for sock in socks.values():
            sock.close()
        raise
    return socks


def probe(addresses, count, interval, deadline, pattern=None, clock=time.monotonic):
    """Echo requests to every address of ADDRESSES (IPv4 and IPv6) from the current namespace, COUNT rounds.

    Round r starts no sooner than r * INTERVAL after the first and after the previous round's replies
    (or REPLY_WAIT); nothing is sent after DEADLINE seconds. Returns {address: {'sent', 'received',
    'ttl' (of the last reply: its TTL, or over IPv6 its hop limit), 'rtt_avg_ms', 'error' (list, when
    nothing came back)}}. Both families share one sequence space, so one source sends at most MAX_PROBES.
    """
    addresses = sorted(set(addresses))
    if len(addresses) * count > MAX_PROBES:
        raise LabError('%d targets x %d requests: one source sends at most %d' % (len(addresses), count, MAX_PROBES))
    data = ((pattern or b'labnet.calico') * DATA_LENGTH)[:DATA_LENGTH]
    results = dict((address, _new_result()) for address in addresses)
    # A reply's source as the kernel writes it (a compressed IPv6 address), to match the address probed.
    canonical = dict((address, str(ipaddress.ip_address(address))) for address in addresses)
    socks = _open_sockets(set(family_of(address) for address in addresses))
    try:
        ident = os.getpid() & 0xffff
        start = clock()
        end = start + deadline
        for round_ in range(count):
            if round_ and clock() < start + round_ * interval:
                time.sleep(max(0.0, min(end, start + round_ * interval) - clock()))
            if clock() >= end:
                break
            _probe_round(socks, canonical, ident, addresses, round_, data, results, end, clock)
    finally:
        for sock in socks.values():
            sock.close()
    return dict((address, _summary(result)) for address, result in results.items())


def _probe_round(socks, canonical, ident, addresses, round_, data, results, end, clock):
    """One request to every address (sequence round * len + index), then their replies."""
    waiting = {}   # seq -> (address, sent at)
    queue = list(range(len(addresses)))
    last_sent = clock()
    by_fd = dict((sock.fileno(), (version, sock)) for version, sock in socks.items())
    while queue or waiting:
        now = clock()
        if now >= end or (not queue and now >= last_sent + REPLY_WAIT):
            break
        young = sum(1 for _address, sent_at in waiting.values() if now - sent_at < STALL)
        while queue and young < WINDOW:
            index = queue.pop(0)
            seq = round_ * len(addresses) + index
            address = addresses[index]
            version = 6 if ':' in address else 4   # the addresses are checked: only IPv6 has ':'
            request = (echo_request if version == 4 else echo_request6)(ident, seq, data)
            results[address]['sent'] += 1
            try:
                socks[version].sendto(request, (address, 0))
            except OSError as exc:
                results[address]['errors'].append('sendto: %s' % (exc.strerror or exc))
                continue
            waiting[seq] = (address, clock())
            last_sent = waiting[seq][1]
            young += 1
        timeout = STALL if queue else max(0.0, min(end, last_sent + REPLY_WAIT) - clock())
        ready, _w, _x = select.select(list(by_fd), [], [], timeout)
        for fd in ready:
            version, sock = by_fd[fd]
            _read_replies(sock, version, canonical, ident, waiting, results, clock)


def _receive(sock, version):
    """One parsed packet from SOCK (parse_icmp's or parse_icmp6's tuple, or None); BlockingIOError when none is left."""
    if version == 4:
        return parse_icmp(sock.recv(65535))
    message, ancillary, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(4))
    hop_limit = None
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
            hop_limit = struct.unpack('=i', value[:4])[0]
    return parse_icmp6(message, peer[0].split('%')[0], hop_limit)


def _read_replies(sock, version, canonical, ident, waiting, results, clock):
    while True:
        try:
            parsed = _receive(sock, version)
        except (BlockingIOError, InterruptedError):
            return
        if not parsed or parsed[1] != ident or parsed[2] not in waiting:
            continue
        kind, _ident, seq, source, value = parsed
        address, sent_at = waiting[seq]
        if kind == 'reply' and source != canonical[address]:
            continue
        del waiting[seq]
        if kind == 'reply':
            results[address]['received'] += 1
            results[address]['ttl'] = value
            results[address]['rtts'].append((clock() - sent_at) * 1000.0)
        else:
            results[address]['errors'].append(value)


def _summary(result):
    rtts = result.pop('rtts')
    errors = result.pop('errors')
    result['rtt_avg_ms'] = round(sum(rtts) / len(rtts), 3) if rtts else None
    if result['received'] == 0:
        result['error'] = sorted(set(errors))[:3] or ['no reply']
    return result


def _child(netns, work, job, write_fd):
    """In a forked child: enter NETNS, run WORK(JOB), write JSON to WRITE_FD, and leave without cleanup."""
    status = 1
    try:
        try:
            enter_netns(netns)
            answer = {'results': work(job)}
        except OSError as exc:
            what = 'entering %s' % os.path.join(NETNS_DIR, netns) if exc.errno in (errno.ENOENT, errno.EINVAL) \
                else 'probing from %s' % netns
            answer = {'error': '%s: %s' % (what, exc.strerror or exc)}
        except Exception as exc:  # pylint: disable=broad-except  # one clean answer whatever happened
            answer = {'error': 'probing from %s: %s' % (netns, exc)}
        payload = json.dumps(answer).encode()
        while payload:
            payload = payload[os.write(write_fd, payload):]
        status = 0
    finally:
        os._exit(status)  # never the module's exit: no atexit cleanup, no second result


def run_in_namespaces(jobs, work, parallel, bound, watch=None):
    """WORK(job) for each {netns: job} of JOBS, each in a forked child inside its namespace, at most
    PARALLEL at once; a child still running BOUND seconds after it started is killed. WATCH: (fd,
    callback), the callback called whenever fd is readable meanwhile (pod_capture's packet socket).

    Returns {netns: {'results': what WORK returned} or {'error': text}}. Shared by the probes that run
    from pods (pod_ping's echo requests, pod_probe's connections).
    """
    pending = sorted(jobs)
    running = {}   # read fd -> (netns, pid, chunks, started)
    answers = {}
    while pending or running:
        while pending and len(running) < parallel:
            netns = pending.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _child(netns, work, jobs[netns], write_fd)
            os.close(write_fd)
            running[read_fd] = (netns, pid, [], time.monotonic())
        ready, _w, _x = select.select(list(running) + ([watch[0]] if watch else []), [], [], 0.5)
        if watch and watch[0] in ready:
            ready.remove(watch[0])
            watch[1]()
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                running[fd][2].append(chunk)
                continue
            netns, pid, chunks, _started = running.pop(fd)
            os.close(fd)
            os.waitpid(pid, 0)
            answers[netns] = _decode_answer(netns, b''.join(chunks))
        for fd, (netns, pid, _chunks, started) in list(running.items()):
            if time.monotonic() - started > bound:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
                del running[fd]
                answers[netns] = {'error': 'probing from %s: no answer within %d s' % (netns, bound)}
    return answers


def probe_from_namespaces(jobs, count, interval, deadline, parallel=16, pattern=None, watch=None):
    """Probe from several namespaces at once, at most PARALLEL children (WATCH: run_in_namespaces').

    jobs: {netns: [address, ...]}. Returns {netns: {'results': {address: probe's fields}} or {'error'}}.
    """
    return run_in_namespaces(jobs, lambda addresses: probe(addresses, count, interval, deadline, pattern),
                             parallel, deadline + count * REPLY_WAIT + 5, watch)


def _decode_answer(netns, payload):
    try:
        return json.loads(payload.decode())
    except ValueError:
        return {'error': 'probing from %s: the prober ended without an answer' % netns}
