# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded TCP/UDP listeners and connection probes in pods' network namespaces (pod_probe's work).

A listener is a detached process per pod namespace (forked twice, setns into /run/netns/NAME, no
shell) that answers on its TCP and UDP ports until its lifetime ends: a TCP connection gets a token
and is closed, a UDP datagram is echoed. Its process name is ``labnet-listen``, which is how a stop
knows a pid is one of them. A probe is a forked child per source namespace that opens all its
connections at once (non-blocking) and waits for them together, at most ``timeout`` seconds:
``open`` (a TCP handshake, or the UDP echo came back), ``refused`` (a reset or port unreachable: the
path works, nothing listens) or ``timeout`` (dropped on the way, as a policy's DROP does).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import errno
import json
import os
import select
import signal
import socket
import time

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.ping import enter_netns, run_in_namespaces

PROTOCOLS = ('tcp', 'udp')
LIFETIME = (1, 300)            # seconds a listener lives at most
TIMEOUT = (0.2, 10.0)          # seconds a probe waits at most
PROCESS_NAME = b'labnet-listen'
TOKEN = b'labnet.calico probe\n'
UDP_RESEND = 0.25              # a UDP probe is sent again this often until answered
READY_WAIT = 5.0               # seconds the module waits for a listener to say it is bound
PR_SET_NAME = 15


def _write_all(fd, payload):
    while payload:
        payload = payload[os.write(fd, payload):]


def _set_process_name(name):
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    except OSError:
        pass


def _socket(kind):
    """One socket for both families (:: with IPV6_V6ONLY off answers IPv4 too), or IPv4 alone where the
    kernel has no IPv6."""
    try:
        sock = socket.socket(socket.AF_INET6, kind)
    except OSError as exc:
        if exc.errno != errno.EAFNOSUPPORT:
            raise
        return socket.socket(socket.AF_INET, kind), '0.0.0.0'
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return sock, '::'


def _bind(ports):
    sockets = []
    for protocol, port in ports:
        sock, anywhere = _socket(socket.SOCK_STREAM if protocol == 'tcp' else socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((anywhere, port))
        if protocol == 'tcp':
            sock.listen(64)
        sock.setblocking(False)
        sockets.append((protocol, sock))
    return sockets


def serve(sockets, until, clock=time.monotonic):
    """Answer on SOCKETS until the clock reaches UNTIL."""
    by_fd = dict((sock.fileno(), (protocol, sock)) for protocol, sock in sockets)
    while clock() < until:
        ready, _w, _x = select.select(list(by_fd), [], [], max(0.0, min(1.0, until - clock())))
        for fd in ready:
            protocol, sock = by_fd[fd]
            try:
                if protocol == 'tcp':
                    conn, _peer = sock.accept()
                    try:
                        conn.settimeout(1.0)
                        conn.sendall(TOKEN)
                    finally:
                        conn.close()
                else:
                    data, peer = sock.recvfrom(2048)
                    sock.sendto(data, peer)
            except OSError:
                continue


def _listener(netns, ports, lifetime, write_fd):
    """The grandchild: enter NETNS, bind PORTS, say so on WRITE_FD, serve until LIFETIME ends."""
    status = 1
    try:
        try:
            enter_netns(netns)
            sockets = _bind(ports)
        except OSError as exc:
            _write_all(write_fd, json.dumps({'error': '%s: %s' % (netns, exc.strerror or exc)}).encode())
            return
        _set_process_name(PROCESS_NAME)
        _write_all(write_fd, json.dumps({'pid': os.getpid()}).encode())
        os.close(write_fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        serve(sockets, time.monotonic() + lifetime)
        status = 0
    finally:
        os._exit(status)


def start_listeners(jobs, lifetime):
    """JOBS: {netns: [(protocol, port)]}. Starts one detached listener per namespace; {netns: pid}."""
    started, errors = {}, []
    for netns in sorted(jobs):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                os.setsid()
                if os.fork() == 0:
                    _listener(netns, jobs[netns], lifetime, write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        os.waitpid(pid, 0)
        chunks, end = [], time.monotonic() + READY_WAIT
        while time.monotonic() < end:
            ready, _w, _x = select.select([read_fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_fd)
        try:
            answer = json.loads(b''.join(chunks).decode() or '{}')
        except ValueError:
            answer = {}
        if 'pid' in answer:
            started[netns] = answer['pid']
        else:
            errors.append('listener in %s: %s' % (netns, answer.get('error', 'did not start within %d s' % READY_WAIT)))
    return started, errors


def is_listener(pid):
    try:
        with open('/proc/%d/comm' % pid, 'rb') as f:
            return f.read().strip() == PROCESS_NAME
    except (IOError, OSError):
        return False


def stop_listeners(pids):
    """SIGTERM to each of PIDS that is a listener; the pids stopped."""
    stopped = []
    for pid in pids:
        if is_listener(pid):
            try:
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
            except OSError:
                pass
    return stopped


def _open(protocol, ip, port):
    family = socket.AF_INET6 if ':' in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if protocol == 'tcp' else socket.SOCK_DGRAM)
    sock.setblocking(False)
    if protocol == 'tcp':
        code = sock.connect_ex((ip, port))
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
    else:
        sock.connect((ip, port))
        sock.send(TOKEN)
    return sock


def connect_all(targets, timeout, clock=time.monotonic):
    """TARGETS: [(key, protocol, ip, port)] from the current namespace, all at once; {key: state}."""
    results, live = {}, {}
    for key, protocol, ip, port in targets:
        try:
            live[key] = (protocol, _open(protocol, ip, port), clock())
        except OSError as exc:
            results[key] = 'error: %s' % (exc.strerror or exc)
    end = clock() + timeout
    while live and clock() < end:
        writers = [s for protocol, s, _t in live.values() if protocol == 'tcp']
        readers = [s for protocol, s, _t in live.values() if protocol == 'udp']
        _r, _w, _x = select.select(readers, writers, [], max(0.0, min(UDP_RESEND, end - clock())))
        ready = set(_r) | set(_w)
        for key, (protocol, sock, sent) in list(live.items()):
            if sock in ready:
                results[key] = _answer(protocol, sock)
            elif protocol == 'udp' and clock() - sent >= UDP_RESEND:
                try:
                    sock.send(TOKEN)
                except OSError as exc:
                    results[key] = 'refused' if exc.errno == errno.ECONNREFUSED else 'error: %s' % exc.strerror
                live[key] = (protocol, sock, clock())
            if key in results:
                sock.close()
                del live[key]
    for key, (_protocol, sock, _sent) in live.items():
        sock.close()
        results[key] = 'timeout'
    return results


def _answer(protocol, sock):
    if protocol == 'tcp':
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            return 'open'
        return 'refused' if code == errno.ECONNREFUSED else 'error: %s' % os.strerror(code)
    try:
        return 'open' if sock.recv(2048) == TOKEN else 'error: an unexpected answer'
    except OSError as exc:
        return 'refused' if exc.errno == errno.ECONNREFUSED else 'error: %s' % (exc.strerror or exc)


def probe_from_namespaces(jobs, timeout):
    """JOBS: {netns: [(key, protocol, ip, port)]}; one forked child per namespace, all at once.
    Returns {netns: {'results': {key: state}}} (or {netns: {'error': text}})."""
    return run_in_namespaces(jobs, lambda job: connect_all(job, timeout), max(1, len(jobs)), timeout + 5)


def check_bounds(lifetime, timeout):
    if not LIFETIME[0] <= lifetime <= LIFETIME[1]:
        raise LabError('lifetime: %d is outside %d-%d seconds' % (lifetime, LIFETIME[0], LIFETIME[1]))
    if not TIMEOUT[0] <= timeout <= TIMEOUT[1]:
        raise LabError('timeout: %s is outside %s-%s seconds' % (timeout, TIMEOUT[0], TIMEOUT[1]))
