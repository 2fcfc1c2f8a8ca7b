#!/usr/bin/env python3
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan, inspect and stop the QEMU VMs of a labnet.calico lab (helper of the qemu_hosts role).

Runs on the controller with the playbook's Python, reads one JSON document on stdin and prints one
on stdout. It never starts anything: the role's tasks do, with the argv lists planned here.

  plan   validate the inventory, derive the L2 segments, the router of each segment, the MAC
         addresses, the QEMU/vde_switch argv of every VM and switch, and compare with what runs
         (pidfile + /proc/PID/cmdline + the saved spec) to say keep / start / restart.
  stop   stop processes by pidfile, only after checking that /proc/PID/cmdline is the expected
         program started with that very pidfile (so a recycled PID is never killed).

Safety: every VM's management NIC is QEMU user networking with restrict=on and a hostfwd bound to
127.0.0.1 only; VM-to-VM links are unix-socket stream netdevs or a vde_switch on a unix socket.
"""

import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import time

QEMU = 'qemu-system-x86_64'
VDE = 'vde_switch'
# Unix socket paths are limited to 108 bytes (sun_path).
SUN_PATH_MAX = 107


class PlanError(Exception):
    pass


def seg_name_for(iface):
    """Default segment of an address: its network, e.g. 172.16.91.0_24."""
    return '%s_%d' % (iface.network.network_address, iface.network.prefixlen)


def safe_name(name, what):
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', str(name)):
        raise PlanError('%s %r: use letters, digits, ".", "_" and "-" only (at most 63)' % (what, name))
    return str(name)


def parse_iface(value, where):
    try:
        iface = ipaddress.ip_interface(str(value))
    except ValueError:
        raise PlanError('%s: %r is not an IPv4 address with prefix such as 172.16.91.201/24' % (where, value))
    if iface.version != 4 or '/' not in str(value):
        raise PlanError('%s: %r is not an IPv4 address with prefix such as 172.16.91.201/24' % (where, value))
    if iface.ip == iface.network.network_address or iface.ip == iface.network.broadcast_address:
        if iface.network.prefixlen < 31:
            raise PlanError('%s: %s is the network or broadcast address of its subnet' % (where, value))
    return iface


def parse_iface_v6(value, where):
    """An IPv6 underlay address; without a prefix a /64, as the lab's inventory check reads it."""
    text = str(value)
    try:
        iface = ipaddress.ip_interface(text if '/' in text else text + '/64')
    except ValueError:
        iface = None
    if iface is None or iface.version != 6 or iface.ip.is_link_local or iface.ip.is_multicast:
        raise PlanError('%s: %r is not a global or unique-local IPv6 address such as fd00:91::201/64' % (where, value))
    return iface


def mac_for(name, used):
    """xx:yy of the VM's MACs 52:54:00:xx:yy:nn: a hash of its name, probed on collision."""
    h = int(hashlib.sha1(name.encode()).hexdigest()[:4], 16)
    while h in used:
        h = (h + 1) & 0xffff
    used.add(h)
    return h


def pid_of(pidfile, exe):
    """PID from pidfile if that process is alive, is `exe` and was started with this pidfile."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = [a.decode(errors='replace') for a in f.read().split(b'\0') if a]
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state in ('Z', 'X') or not argv:
        return None
    if os.path.basename(argv[0]) != exe or pidfile not in argv:
        return None
    return pid


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plan(doc):
    mode = doc.get('mode', 'create')
    strict = mode == 'create'
    run_dir = doc['run_dir']
    seg_root = os.path.join(run_dir, 'segments')
    errors = []

    mgmt_net = ipaddress.ip_network(doc['mgmt']['net'])
    mgmt_host = str(doc['mgmt']['host'])
    mgmt_guest = str(doc['mgmt']['guest'])
    if ipaddress.ip_address(mgmt_host) not in mgmt_net or ipaddress.ip_address(mgmt_guest) not in mgmt_net:
        errors.append('calico_vm_mgmt_host and calico_vm_mgmt_guest must be in calico_vm_mgmt_network %s' % mgmt_net)

    vms = []
    names = set()
    ports = {}
    for raw in doc['vms']:
        name = raw['name']
        try:
            safe_name(name, 'host')
        except PlanError as e:
            errors.append(str(e))
            continue
        where = '%s (%s)' % (name, 'calico_router_addresses' if raw['role'] == 'router' else 'calico_node_address')
        nics = []
        addrs = raw.get('addresses') or []
        if not addrs:
            wanted_var = 'calico_router_addresses' if raw['role'] == 'router' else 'calico_node_address'
            errors.append('%s: no underlay address (set %s)' % (name, wanted_var))
        for i, a in enumerate(addrs):
            seg = None
            if isinstance(a, dict):
                seg = a.get('segment')
                a = a.get('address')
            try:
                iface = parse_iface(a, where)
            except PlanError as e:
                errors.append(str(e))
                continue
            if raw['role'] == 'node':
                seg = raw.get('segment')
            if seg is not None:
                try:
                    seg = safe_name(seg, '%s: segment' % name)
                except PlanError as e:
                    errors.append(str(e))
                    continue
            else:
                seg = seg_name_for(iface)
            if iface.network.overlaps(mgmt_net):
                errors.append('%s: %s overlaps the management network %s of the VMs (set calico_vm_mgmt_network)'
                              % (name, a, mgmt_net))
            nics.append({'dev': 'eth%d' % i, 'address': str(iface), 'segment': seg, 'iface': iface})
        address_v6 = None
        if raw['role'] == 'node' and raw.get('address_v6'):
            try:
                address_v6 = parse_iface_v6(raw['address_v6'], '%s (calico_node_address_v6)' % name)
            except PlanError as e:
                errors.append(str(e))
        if raw['role'] == 'node' and raw.get('gateway_v6'):
            # The router VMs forward IPv4 only: IPv6 between VMs stays on one segment.
            errors.append('%s: calico_underlay_gateway_v6 is %s but the qemu provider has no IPv6 router: put '
                          'every VM with calico_node_address_v6 on one segment and one IPv6 subnet'
                          % (name, raw['gateway_v6']))
        if raw['role'] == 'node':
            dev = raw.get('underlay_dev') or 'eth0'
            if dev != 'eth0':
                errors.append('%s: calico_underlay_dev is %r but inside a qemu VM the underlay NIC is eth0' % (name, dev))
        if raw['role'] == 'router' and len({n['segment'] for n in nics}) != len(nics):
            errors.append('%s: two calico_router_addresses on one segment' % name)
        for cidr in raw.get('pod_cidrs') or []:
            try:
                if ipaddress.ip_network(str(cidr), strict=False).overlaps(mgmt_net):
                    errors.append('%s: pod block %s overlaps the management network %s of the VMs (set '
                                  'calico_vm_mgmt_network)' % (name, cidr, mgmt_net))
            except ValueError:
                pass
        port = raw.get('port')
        try:
            port = int(port)
            if not 1024 <= port <= 65535:
                raise ValueError
        except (TypeError, ValueError):
            errors.append('%s: ansible_port must be set to a free TCP port of 127.0.0.1 (1024-65535), got %r' % (name, port))
            port = None
        if port is not None:
            if port in ports:
                errors.append('%s and %s have the same ansible_port %d' % (ports[port], name, port))
            ports[port] = name
        if str(raw.get('host') or '127.0.0.1') not in ('127.0.0.1', 'localhost'):
            errors.append('%s: ansible_host must be 127.0.0.1 (SSH reaches a VM only through its 127.0.0.1 port forward)'
                          % name)
        if name in names:
            errors.append('%s: defined twice' % name)
        names.add(name)
        memory = raw.get('memory') or doc.get('memory') or 256
        if address_v6 is not None and nics:
            nics[0]['address_v6'] = str(address_v6)
            nics[0]['iface_v6'] = address_v6
        vms.append({'name': name, 'role': raw['role'], 'port': port, 'nics': nics, 'memory': int(memory)})

    if errors and strict:
        raise PlanError('\n'.join(errors))

    # Segments: routers first, then nodes in inventory order (the start order too).
    vms.sort(key=lambda v: 0 if v['role'] == 'router' else 1)
    segments = {}
    for vm in vms:
        for nic in vm['nics']:
            segments.setdefault(nic['segment'], []).append((vm, nic))
    for seg, members in segments.items():
        nets = {n['iface'].network for _vm, n in members}
        if len(nets) > 1 and strict:
            errors.append('segment %s mixes subnets %s' % (seg, ', '.join(sorted(str(n) for n in nets))))
        routers = [(v, n) for v, n in members if v['role'] == 'router']
        if len(routers) > 1 and strict:
            errors.append('segment %s has more than one router: %s' % (seg, ', '.join(v['name'] for v, _nic in routers)))
    v6_places = {}
    for vm in vms:
        for nic in vm['nics']:
            if nic.get('iface_v6') is not None:
                v6_places.setdefault((nic['segment'], nic['iface_v6'].network), []).append(vm['name'])
    if len(v6_places) > 1 and strict:
        errors.append('the VMs with calico_node_address_v6 are on %d segments or IPv6 subnets (%s) but the qemu '
                      'provider has no IPv6 router: put every VM with IPv6 on one segment and one IPv6 subnet'
                      % (len(v6_places), '; '.join('%s: %s in %s' % (', '.join(names), net, seg)
                                                   for (seg, net), names in sorted(v6_places.items(), key=str))))
    if errors and strict:
        raise PlanError('\n'.join(errors))

    # Gateways: a node's default route goes via the router of its segment, else straight out of eth0.
    for vm in vms:
        vm['gateway'] = None
        if vm['role'] == 'node' and vm['nics']:
            nic = vm['nics'][0]
            for other, onic in segments.get(nic['segment'], []):
                if other['role'] == 'router':
                    vm['gateway'] = str(onic['iface'].ip)

    node_segs = sorted({v['nics'][0]['segment'] for v in vms if v['role'] == 'node' and v['nics']})
    lonely = [s for s in node_segs if not any(v['role'] == 'router' for v, _nic in segments[s])]
    if len(node_segs) > 1 and lonely and strict:
        errors.append('the lab hosts are on %d segments (%s) but no router VM joins %s, so hosts in different '
                      'subnets cannot reach each other: add a host to group calico_routers with '
                      'calico_lab_provider: qemu, an ansible_port and calico_router_addresses: one address in '
                      'each subnet (e.g. the .1 of each)' % (len(node_segs), ', '.join(node_segs), ', '.join(lonely)))
        raise PlanError('\n'.join(errors))

    used_macs = set()
    for vm in sorted(vms, key=lambda v: v['name']):
        vm['mac_id'] = mac_for(vm['name'], used_macs)

    def mac(vm, idx):
        return '52:54:00:%02x:%02x:%02x' % (vm['mac_id'] >> 8, vm['mac_id'] & 0xff, idx)

    image = doc.get('image') or {}
    out_segments = []
    for seg, members in segments.items():
        sdir = os.path.join(seg_root, seg)
        entry = {'name': seg, 'dir': sdir, 'members': [v['name'] for v, _nic in members],
                 'subnet': str(members[0][1]['iface'].network)}
        if len(members) == 1:
            entry['kind'] = 'single'
        elif len(members) == 2:
            entry['kind'] = 'pair'
            entry['socket'] = os.path.join(sdir, 'link.sock')
            entry['listener'] = members[0][0]['name']
        else:
            entry['kind'] = 'switch'
            entry['socket'] = os.path.join(sdir, 'switch')
            entry['pidfile'] = os.path.join(sdir, 'vde_switch.pid')
            entry['argv'] = [doc.get('vde_switch') or VDE, '--sock', entry['socket'], '--mode', '0600',
                             '--dirmode', '0700', '--numports', str(max(8, len(members) + 2)),
                             '--daemon', '--pidfile', entry['pidfile']]
            entry['pid'] = pid_of(entry['pidfile'], VDE)
        if 'socket' in entry and len(entry['socket']) + 8 > SUN_PATH_MAX:
            errors.append('socket path %s is too long for a unix socket: use a shorter calico_vm_run_dir'
                          % entry['socket'])
        out_segments.append(entry)
    seg_by_name = {s['name']: s for s in out_segments}
    if errors and strict:
        raise PlanError('\n'.join(errors))

    pubkey = (doc.get('pubkey') or '').split()
    out_vms = []
    for vm in vms:
        rdir = os.path.join(run_dir, vm['name'])
        pidfile = os.path.join(rdir, 'qemu.pid')
        overlay = os.path.join(rdir, 'disk-%s.qcow2' % image.get('id', 'none'))
        serial = os.path.join(rdir, 'serial.log')
        nic_count = len(vm['nics'])
        cmdline = ['root=/dev/vda', 'rw', 'console=ttyS0', 'net.ifnames=0', 'biosdevname=0',
                   'systemd.hostname=%s' % vm['name'].replace('_', '-').replace('.', '-')]
        cmdline += (doc.get('kernel_args') or '').split()
        argv = [doc.get('qemu') or QEMU, '-name', 'labnet-%s' % vm['name'],
                '-nodefaults', '-no-user-config', '-machine', 'pc', '-smp', '1', '-m', str(vm['memory']),
                '-display', 'none', '-daemonize', '-pidfile', pidfile,
                '-chardev', 'file,id=ser0,path=%s' % serial, '-serial', 'chardev:ser0',
                '-kernel', image.get('kernel', ''), '-initrd', image.get('initrd', ''),
                '-drive', 'file=%s,if=none,id=disk0,format=qcow2,discard=unmap' % overlay,
                '-device', 'virtio-blk-pci,drive=disk0,addr=0x10',
                '-device', 'virtio-rng-pci,addr=0x11']
        cleanup = []
        for i, nic in enumerate(vm['nics']):
            seg = seg_by_name[nic['segment']]
            nid = 'u%d' % i
            if seg['kind'] == 'single':
                netdev = 'hubport,id=%s,hubid=%d' % (nid, i)
            elif seg['kind'] == 'pair':
                listen = seg['listener'] == vm['name']
                netdev = 'stream,id=%s,server=%s,addr.type=unix,addr.path=%s' % (
                    nid, 'on' if listen else 'off', seg['socket'])
                if listen:
                    cleanup.append(seg['socket'])
            else:
                netdev = 'vde,id=%s,sock=%s' % (nid, seg['socket'])
            argv += ['-netdev', netdev,
                     '-device', 'virtio-net-pci,netdev=%s,mac=%s,addr=0x%x' % (nid, mac(vm, i), 3 + i)]
            cmdline.append('labnet.if=%s,%s' % (nic['dev'], nic['address']))
            if nic.get('address_v6'):
                cmdline.append('labnet.if6=%s,%s' % (nic['dev'], nic['address_v6']))
        mgmt_dev = 'eth%d' % nic_count
        argv += ['-netdev', 'user,id=mgmt,restrict=on,ipv6=off,net=%s,host=%s,hostfwd=tcp:127.0.0.1:%s-%s:22'
                 % (mgmt_net, mgmt_host, vm['port'], mgmt_guest),
                 '-device', 'virtio-net-pci,netdev=mgmt,mac=%s,addr=0x%x' % (mac(vm, 0xff), 3 + nic_count)]
        cmdline.append('labnet.mgmt=%s,%s/%d' % (mgmt_dev, mgmt_guest, mgmt_net.prefixlen))
        if vm['role'] == 'router':
            cmdline.append('labnet.forward=1')
        elif vm['gateway']:
            cmdline.append('labnet.gw=%s,eth0' % vm['gateway'])
        elif vm['nics']:
            cmdline.append('labnet.gwdev=eth0')
        if len(pubkey) >= 2:
            cmdline.append('labnet.sshkey=%s,%s' % (pubkey[0], pubkey[1]))
        argv += ['-append', ' '.join(cmdline)]

        spec = {'argv': argv}
        saved = load_json(os.path.join(rdir, 'spec.json'))
        pid = pid_of(pidfile, QEMU)
        if pid is None:
            action = 'start'
        elif saved != spec:
            action = 'restart'
        else:
            action = 'keep'
        nics = [{'dev': n['dev'], 'address': n['address'], 'segment': n['segment'], 'address_v6': n.get('address_v6')}
                for n in vm['nics']]
        nics.append({'dev': mgmt_dev, 'address': '%s/%d' % (mgmt_guest, mgmt_net.prefixlen), 'segment': None})
        out_vms.append({'name': vm['name'], 'role': vm['role'], 'port': vm['port'], 'run_dir': rdir,
                        'pidfile': pidfile, 'serial_log': serial, 'overlay': overlay,
                        'spec_file': os.path.join(rdir, 'spec.json'), 'spec': spec, 'argv': argv,
                        'pid': pid, 'action': action, 'cleanup': cleanup, 'gateway': vm['gateway'], 'nics': nics})

    # A (re)started switch or pair listener breaks the links of members that keep running.
    by_name = {v['name']: v for v in out_vms}
    for seg in out_segments:
        if seg['kind'] == 'switch':
            seg['action'] = 'keep' if seg['pid'] else 'start'
            if seg['action'] == 'start':
                for m in seg['members']:
                    if by_name[m]['action'] == 'keep':
                        by_name[m]['action'] = 'restart'
        else:
            seg['action'] = 'none'
    changed = True
    while changed:
        changed = False
        for seg in out_segments:
            if seg['kind'] == 'pair' and by_name[seg['listener']]['action'] != 'keep':
                for m in seg['members']:
                    if m != seg['listener'] and by_name[m]['action'] == 'keep':
                        by_name[m]['action'] = 'restart'
                        changed = True

    if strict:
        busy = [v for v in out_vms if v['action'] == 'start' and v['port'] and not port_free(v['port'])]
        if busy:
            raise PlanError('\n'.join('%s: port 127.0.0.1:%d is already in use by another program (change its '
                                      'ansible_port)' % (v['name'], v['port']) for v in busy))

    return {
        'vms': out_vms,
        'segments': out_segments,
        'to_start': [v['name'] for v in out_vms if v['action'] != 'keep'],
        'summary': ['%s: %s, ssh 127.0.0.1:%s, %s%s' % (
            v['name'], v['action'], v['port'],
            ', '.join('%s %s%s [%s]' % (n['dev'], n['address'], (' ' + n['address_v6']) if n.get('address_v6') else '',
                                        n['segment'] or 'mgmt') for n in v['nics']),
            (', default via %s' % v['gateway']) if v['gateway'] else '') for v in out_vms]
        + ['segment %s (%s): %s, %s' % (s['name'], s['subnet'], s['kind'], ', '.join(s['members']))
           for s in out_segments],
    }


def stop(doc):
    """Stop by pidfile ({"qemu": [...], "vde_switch": [...]}): SIGTERM, then SIGKILL after a timeout;
    remove the pidfiles. Only PIDs whose cmdline is the expected program with that pidfile are touched.
    VMs first, then switches."""
    timeout = float(doc.get('timeout', 20))
    stopped = []
    targets = [{'pidfile': p, 'exe': QEMU} for p in doc.get('qemu', [])]
    targets += [{'pidfile': p, 'exe': VDE} for p in doc.get('vde_switch', [])]
    for t in targets:
        pid = pid_of(t['pidfile'], t['exe'])
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.time() + timeout
        while time.time() < deadline and pid_of(t['pidfile'], t['exe']) == pid:
            time.sleep(0.1)
        if pid_of(t['pidfile'], t['exe']) == pid:
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 10
            while time.time() < deadline and pid_of(t['pidfile'], t['exe']) == pid:
                time.sleep(0.1)
        stopped.append({'pidfile': t['pidfile'], 'pid': pid, 'exe': t['exe']})
        try:
            os.unlink(t['pidfile'])
        except OSError:
            pass
    return {'stopped': stopped, 'changed': bool(stopped)}


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    try:
        doc = json.load(sys.stdin)
        if cmd == 'plan':
            out = plan(doc)
        elif cmd == 'stop':
            out = stop(doc)
        else:
            raise PlanError('usage: qemu_lab.py plan|stop < input.json')
    except PlanError as e:
        sys.stderr.write('%s\n' % e)
        sys.exit(2)
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
