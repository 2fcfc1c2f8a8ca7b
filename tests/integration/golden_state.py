"""The golden tests' normaliser: one lab host's programmed state in a fixed, comparable form.

A host's links, addresses, routes, permanent neighbours, FDB entries and sysctls, and the same of each
of its pods, are printed as lines ('link ...', 'addr ...', 'route ...', 'neigh ...', 'fdb ...',
'sysctl ...'), per-run names and random MACs replaced by placeholders, and compared with
tests/integration/golden/<mode>-<routing>/<host>.txt ('#' lines there are comments citing Calico's
source). Placeholders: {host-a} (a name the run suffixed), cali{netns01} (Calico's name: cali +
sha1("default.<pod>")[:11]), {mac netns01} (the pod end's MAC), {vtep host-b} (Felix's VTEP MAC: 66 +
sha1(<host>)[0:5]), {lab}. Both names are computed here from Calico's definitions, not with the lab's
functions, so a lab that named them otherwise shows its own names in the diff.

Every command goes through RUN, a function that runs an argv inside one network namespace and returns
its output, so that the same code reads a netns provider's host (tests/integration/test_golden.py:
`ip netns exec <host>` on this machine) and a VM (molecule/shared/tests/test_lab.py test_golden_state:
the VM's own namespace and its pods', over testinfra).
"""

import difflib
import hashlib
import json
import os
import re

from ansible_collections.labnet.calico.plugins.module_utils.iproute import normalize_link, normalize_route, route_argv

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(GOLDEN)))
CALI_SYSCTLS = ('net/ipv4/conf/%s/proxy_arp', 'net/ipv4/neigh/%s/proxy_delay', 'net/ipv4/conf/%s/forwarding',
                'net/ipv4/conf/%s/route_localnet', 'net/ipv4/conf/%s/rp_filter', 'net/ipv6/conf/%s/accept_ra')
# The lab's devices on a host; the rest (a VM's management NIC, lo) is not the lab's.
HOST_LINKS = ('eth0', 'vxlan.calico', 'tunl0')

READ_SYSCTLS = '''
import os, sys
for key in sys.argv[1:]:
    path = '/proc/sys/' + key
    print(open(path).read().strip() if os.path.exists(path) else '-')
'''

ORDER = ('link', 'route', 'neigh', 'fdb', 'sysctl')


def calico_veth_name(pod, namespace='default'):
    """libcalico-go/lib/backend/k8s/conversion/workload_endpoint_default.go VethNameForWorkload."""
    return 'cali' + hashlib.sha1(('%s.%s' % (namespace, pod)).encode()).hexdigest()[:11]


def felix_vtep_mac(node):
    """felix/calc/vxlan_resolver.go vtepMACForHost (a node without VXLANTunnelMACAddr)."""
    return ':'.join('%02x' % b for b in b'f' + hashlib.sha1(node.encode()).digest()[:5])


def ip_json(run, *args):
    return json.loads(run(['ip', '-j'] + list(args)) or '[]')


def sysctls(run, keys, python):
    """Values of KEYS (paths under /proc/sys), read by one process; '-' where the kernel has none."""
    return dict(zip(keys, run([python, '-c', READ_SYSCTLS] + list(keys)).split()))


def link_line(link):
    words = ['link', link['name'], link['kind'] or '-', 'mtu', str(link['mtu']), 'up' if link['up'] else 'down']
    if link['name'].startswith('cali') or link['kind'] == 'vxlan':
        words += ['mac', link['mac']]
    if link['kind'] == 'vxlan':
        info = link['info']
        words += ['id', str(info.get('id')), 'local', str(info.get('local')), 'dev', str(info.get('link')),
                  'port', str(info.get('port')),
                  'learning', str(bool(info.get('learning'))).lower()]
    return ' '.join(words)


def namespace_lines(run, pod=False, python='python3'):
    """The state lines of the namespace RUN runs in (a host's, or with POD a pod's: all its links)."""
    lines = []
    links = [normalize_link(raw) for raw in ip_json(run, '-d', 'addr', 'show')]
    for link in sorted(links, key=lambda l: l['name']):
        if link['name'] == 'lo' or not (pod or link['name'] in HOST_LINKS or link['name'].startswith('cali')):
            continue
        lines.append(link_line(link))
        lines.extend('addr %s %s' % (link['name'], a) for a in link['addresses'])
    for raw in ip_json(run, '-4', '-N', 'route', 'show', 'table', 'main'):
        lines.append('route ' + ' '.join(route_argv(normalize_route(raw))))
    for n in ip_json(run, '-4', 'neigh', 'show', 'nud', 'permanent'):
        lines.append('neigh %s dev %s lladdr %s permanent' % (n['dst'], n['dev'], n.get('lladdr', '-')))
    if not pod:
        for f in json.loads(run(['bridge', '-j', 'fdb', 'show']) or '[]'):
            if 'permanent' == f.get('state') and f.get('mac') != '00:00:00:00:00:00' and f.get('dst'):
                lines.append('fdb %s dev %s dst %s self permanent' % (f['mac'], f['ifname'], f['dst']))
    keys = ['net/ipv4/ip_forward']
    if not pod:
        keys += [k % l['name'] for l in links if l['name'].startswith('cali') for k in CALI_SYSCTLS]
    lines.extend('sysctl %s = %s' % (k, v) for k, v in sorted(sysctls(run, keys, python).items()))
    return lines


def pod_mac(run):
    """The MAC of a pod's eth0 (RUN runs in the pod), random per run: a placeholder."""
    return ip_json(run, 'link', 'show', 'eth0')[0]['address']


def placeholders(names, hosts, pod_macs, lab=None):
    """{actual text: placeholder}. NAMES: {name in the golden files: name in this run} of every host
    and pod; HOSTS: the lab's hosts; POD_MACS: {pod: its eth0's MAC} of the pods whose names and MACs
    the compared state may show; LAB: the run's suffix, if any."""
    found = {lab: '{lab}'} if lab else {}
    for name in hosts:
        found[felix_vtep_mac(names[name])] = '{vtep %s}' % name
    for pod, mac in pod_macs.items():
        found[calico_veth_name(names[pod])] = 'cali{%s}' % pod
        found[mac] = '{mac %s}' % pod
    for base_name, actual in names.items():
        found.setdefault(actual, '{%s}' % base_name)
    return found


def replace_names(line, names):
    """One pass, longest name first, so that a placeholder is never replaced again (on the VMs a
    name's placeholder holds the name itself: netns01 -> {netns01})."""
    pattern = '|'.join(re.escape(actual) for actual in sorted(names, key=len, reverse=True))
    return re.sub(pattern, lambda match: names[match.group(0)], line) if names else line


def sort_key(line):
    """Links each followed by their addresses, then routes, neighbours, FDB entries, sysctls."""
    kind, name = line.split()[0], line.split()[1]
    if kind == 'addr':
        return (0, name, 1, line)
    return (ORDER.index(kind), name if kind == 'link' else '', 0, line)


def block(title, lines, names):
    return ['[%s]' % title] + sorted((replace_names(line, names) for line in lines), key=sort_key)


def host_state(host, host_lines, pod_lines, names):
    """The text compared with <host>.txt: HOST's lines, then each pod's ({pod: lines}) under '[<pod>]'."""
    lines = block(host, host_lines, names)
    for pod in sorted(pod_lines):
        lines += [''] + block(pod, pod_lines[pod], names)
    return '\n'.join(lines) + '\n'


def bird_config_lines(text, names):
    """A BIRD configuration without its comments and blank lines, names as placeholders."""
    lines = []
    for line in text.splitlines():
        line = replace_names(line.split('#', 1)[0].rstrip(), names)
        if line:
            lines.append(line + '\n')
    return ''.join(lines)


def expected(path):
    return ''.join(line for line in open(path) if not line.startswith('#'))


def difference(path, actual, what):
    """'' when ACTUAL is the golden file PATH (its comments dropped), else a unified diff. With
    LABNET_GOLDEN_WRITE=1, ACTUAL is also written to PATH.actual, to review, never to copy blindly."""
    if os.environ.get('LABNET_GOLDEN_WRITE'):
        with open(path + '.actual', 'w') as out:
            out.write(actual)
    wanted = expected(path)
    if actual == wanted:
        return ''
    return ''.join(difflib.unified_diff(wanted.splitlines(True), actual.splitlines(True),
                                        'expected ' + os.path.relpath(path, ROOT), what))
