# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one small layer every labnet.calico module stands on.

It runs ``ip`` (on the host or inside a named network namespace) with argv lists and LC_ALL=C,
reads state as JSON, normalises it so that wanted and current state compare as equals, and applies
changes as ``ip -batch -`` (one process per namespace) or, in check mode, only records them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import os
import re
import shlex

from ansible_collections.labnet.calico.plugins.module_utils.errors import LabError
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import FAMILY_SWITCH
from ansible_collections.labnet.calico.plugins.module_utils.routes import (
    ROUTE_SCOPE_NAMES, ROUTE_TABLES, normalize_route,
)

# Links the lab makes carry this interface alias (ifalias), followed by ':' and an owner id.
LAB_ALIAS_PREFIX = 'labnet.calico'
# Calico answers ARP for this address on every workload interface.
CALICO_GATEWAY = '169.254.1.1'
CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee'
IFNAME_MAX = 15  # IFNAMSIZ - 1
_IFNAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')
_NETNS_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$')
_WORKLOAD_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$')
_K8S_NAMESPACE_RE = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')
K8S_NAMESPACE_MAX = 63
DEFAULT_K8S_NAMESPACE = 'default'
_MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
# A word of an ``ip -batch`` line: no whitespace, quotes, backslashes or comment marks (or empty).
_BATCH_TOKEN_RE = re.compile(r'^[^\s"\'\\#]+$')


# ----------------------------------------------------------------------------------------------
# Validation: every value is checked before anything changes, and errors name the field.


def check_ifname(value, field):
    if not isinstance(value, str) or not value:
        raise LabError('%s: an interface name is required' % field)
    if len(value) > IFNAME_MAX:
        raise LabError('%s: interface name %r is %d characters long; the kernel allows at most %d'
                       % (field, value, len(value), IFNAME_MAX))
    if not _IFNAME_RE.match(value) or value in ('.', '..'):
        raise LabError('%s: interface name %r may contain only letters, digits, "_", "." and "-"'
                       % (field, value))
    return value


def check_netns(value, field):
    if value is None:
        return None
    if not isinstance(value, str) or not _NETNS_RE.match(value) or value in ('.', '..'):
        raise LabError('%s: network namespace name %r must be 1-64 letters, digits, "_", "." or "-"'
                       % (field, value))
    return value


def check_k8s_namespace(value, field):
    """A Kubernetes namespace name: an RFC 1123 label (1-63 lower-case letters, digits and "-", starting
    and ending with a letter or digit), as the API server requires of a namespace."""
    if not isinstance(value, str) or len(value) > K8S_NAMESPACE_MAX or not _K8S_NAMESPACE_RE.match(value):
        raise LabError('%s: Kubernetes namespace %r must be 1-%d lower-case letters, digits or "-", starting '
                       'and ending with a letter or digit' % (field, value, K8S_NAMESPACE_MAX))
    return value


def check_workload_id(value, field):
    if not isinstance(value, str) or not _WORKLOAD_RE.match(value):
        raise LabError('%s: workload id %r must be 1-128 letters, digits, "_", ".", ":" or "-"'
                       % (field, value))
    return value


def check_mac(value, field):
    mac = str(value).strip().lower().replace('-', ':')
    if not _MAC_RE.match(mac):
        raise LabError('%s: %r is not a MAC address (expected six hex pairs, e.g. ee:ee:ee:ee:ee:ee)'
                       % (field, value))
    return mac


def check_mtu(value, field, low=68, high=65535):
    if value is None:
        return None
    try:
        mtu = int(value)
    except (TypeError, ValueError):
        raise LabError('%s: MTU %r is not a number' % (field, value))
    if not low <= mtu <= high:
        raise LabError('%s: MTU %d is outside %d-%d' % (field, mtu, low, high))
    return mtu


def parse_ipv4_address(value, field):
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise LabError('%s: %r is not an IPv4 address' % (field, value))


def parse_ipv4_network(value, field):
    """A destination: '10.10.0.0/24', '10.10.0.2' (a /32) or 'default'. Host bits must be zero."""
    text = str(value).strip()
    if text == 'default':
        text = '0.0.0.0/0'
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise LabError('%s: %r is not an IPv4 network (%s)' % (field, value, exc))


def parse_ip_address(value, field):
    """An IPv4 or IPv6 address (the family is the value's)."""
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise LabError('%s: %r is not an IPv4 or IPv6 address' % (field, value))


def parse_ip_network(value, field):
    """A destination of either family: 'default' is IPv4's (as ``ip`` reads it), '::/0' IPv6's."""
    text = str(value).strip()
    if text == 'default':
        return parse_ipv4_network(text, field)
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise LabError('%s: %r is not an IPv4 or IPv6 network (%s)' % (field, value, exc))


def parse_ipv4_interface(value, field, default_prefix=32):
    """An address with prefix; '10.10.0.2' means '10.10.0.2/32' unless another default is given."""
    text = str(value).strip()
    if '/' not in text:
        text = '%s/%d' % (text, default_prefix)
    try:
        return ipaddress.IPv4Interface(text)
    except ValueError as exc:
        raise LabError('%s: %r is not an IPv4 address with prefix (%s)' % (field, value, exc))


def parse_ipv6_address(value, field):
    """An IPv6 address, compressed on output ('fd00:91::201')."""
    try:
        return ipaddress.IPv6Address(str(value).strip())
    except ValueError:
        raise LabError('%s: %r is not an IPv6 address' % (field, value))


def parse_ipv6_network(value, field):
    """A destination: 'fd00:10:244::/122', 'fd00::2' (a /128) or '::/0'. Host bits must be zero.
    'default' is not accepted here: in the lab's route items it means the IPv4 default."""
    text = str(value).strip()
    try:
        return ipaddress.IPv6Network(text, strict=True)
    except ValueError as exc:
        raise LabError('%s: %r is not an IPv6 network (%s)' % (field, value, exc))


def parse_ipv6_interface(value, field, default_prefix=128):
    """An IPv6 address with prefix; 'fd00:91::201' means '/128' unless another default is given."""
    text = str(value).strip()
    if '/' not in text:
        text = '%s/%d' % (text, default_prefix)
    try:
        return ipaddress.IPv6Interface(text)
    except ValueError as exc:
        raise LabError('%s: %r is not an IPv6 address with prefix (%s)' % (field, value, exc))


def workload_id(namespace, pod):
    """The string Calico hashes for a pod's host-side veth name: ``<Kubernetes namespace>.<pod name>``
    (libcalico-go/lib/backend/k8s/conversion/workload_endpoint_default.go, VethNameForWorkload)."""
    return '%s.%s' % (namespace, pod)


def workload_host_ifname(workload_id, prefix='cali'):
    """Calico's naming: a fixed prefix and the first hex digits of a SHA-1 of the workload id, 15 chars.
    For a pod, the id is workload_id(namespace, pod), so the name is Calico's."""
    digest = hashlib.sha1(workload_id.encode('utf-8')).hexdigest()
    return prefix + digest[:IFNAME_MAX - len(prefix)]


# Devices the kernel makes by itself in every network namespace once their driver is loaded
# (net.core.fb_tunnels_only_for_init_net=0): name -> kind. Nobody made them; nobody can delete them.
KERNEL_FALLBACK_LINKS = {
    'tunl0': 'ipip', 'gre0': 'gre', 'gretap0': 'gretap', 'erspan0': 'erspan', 'sit0': 'sit',
    'ip6tnl0': 'ip6tnl', 'ip6gre0': 'ip6gre', 'ip_vti0': 'vti', 'ip6_vti0': 'vti6',
}


def is_kernel_fallback(link):
    """A tunnel device the kernel puts in every namespace once its driver is loaded (e.g. tunl0)."""
    return link['name'] in KERNEL_FALLBACK_LINKS and KERNEL_FALLBACK_LINKS[link['name']] == link.get('kind')


def untagged_links(links):
    """Names of the links (``IPRoute.links()`` values) that nobody can claim for the lab.

    That is every link except ``lo``, the kernel's fallback tunnel devices and links whose alias is a
    lab alias. A namespace for which this is empty holds nothing but what the lab or the kernel made.
    """
    found = []
    for link in links:
        if link['name'] == 'lo' or is_lab_alias(link.get('alias')):
            continue
        if is_kernel_fallback(link):
            continue
        found.append(link['name'])
    return sorted(found)


def lab_alias(owner):
    return '%s:%s' % (LAB_ALIAS_PREFIX, owner)


def is_lab_alias(alias):
    return bool(alias) and (alias == LAB_ALIAS_PREFIX or alias.startswith(LAB_ALIAS_PREFIX + ':'))


# ----------------------------------------------------------------------------------------------
# Normalising what ``ip -j`` prints.

def parse_json_output(text):
    """``ip -j`` prints nothing at all for some empty lists (older iproute2); treat that as []."""
    text = text.strip()
    if not text:
        return []
    return json.loads(text)


def parse_json_stream(text):
    """The JSON documents ``ip -j -batch`` prints one after the other."""
    decoder, docs, index, text = json.JSONDecoder(), [], 0, text.strip()
    while index < len(text):
        doc, index = decoder.raw_decode(text, index)
        docs.append(doc)
        while index < len(text) and text[index].isspace():
            index += 1
    return docs


def normalize_link(raw):
    """One link of ``ip -j -d addr show`` as a flat dict that compares cleanly."""
    linkinfo = raw.get('linkinfo') or {}
    addresses, addresses6 = [], []
    for info in raw.get('addr_info', []):
        if info.get('family') == 'inet':
            addresses.append('%s/%s' % (info['local'], info['prefixlen']))
        elif info.get('family') == 'inet6' and str(info.get('scope')) not in ('link', '253'):  # 253: ip -N
            # The kernel's own fe80:: address is not the lab's to manage: only global ones are listed.
            addresses6.append('%s/%s' % (info['local'], info['prefixlen']))
    return {
        'name': raw['ifname'],
        'index': raw.get('ifindex'),
        'peer_index': raw.get('link_index'),
        'peer_netnsid': raw.get('link_netnsid'),
        'kind': linkinfo.get('info_kind'),
        'info': linkinfo.get('info_data') or {},
        'mac': (raw.get('address') or '').lower(),
        'mtu': raw.get('mtu'),
        'up': 'UP' in (raw.get('flags') or []),
        'alias': raw.get('ifalias') or '',
        'master': raw.get('master'),
        'addresses': sorted(addresses),
        'addresses6': sorted(addresses6),
    }


def route_argv(route):
    """The words after ``ip route replace|del`` that describe a normalised route."""
    words = []
    if route['type'] != 'unicast':
        words.append(route['type'])
    words.append(route['dst'])
    if route.get('via'):
        words += ['via', route['via']]
    if route.get('dev'):
        words += ['dev', route['dev']]
    if route.get('onlink'):
        words.append('onlink')
    if route.get('scope') is not None and route['type'] == 'unicast':
        words += ['scope', ROUTE_SCOPE_NAMES.get(route['scope'], str(route['scope']))]
    words += ['proto', str(route['proto'])]
    if route.get('metric'):
        words += ['metric', str(route['metric'])]
    if route.get('mtu'):
        words += ['mtu', str(route['mtu'])]
    if route.get('table', ROUTE_TABLES['main']) != ROUTE_TABLES['main']:
        words += ['table', str(route['table'])]
    return words


def route_text(route, netns=None):
    """A route as a person reads it, like ``ip route`` prints it (for diffs and results)."""
    text = ' '.join(route_argv(route))
    return '[%s] %s' % (netns, text) if netns else text


# ----------------------------------------------------------------------------------------------
# Running ``ip``.

class Change:
    """One ``ip`` (or ``bridge``) command to run, inside ``netns`` (None: where the module runs)."""

    def __init__(self, netns, args, tool='ip'):
        self.netns = netns
        self.args = [str(a) for a in args]
        self.tool = tool

    def text(self):
        prefix = [self.tool] + (['-n', self.netns] if self.netns else [])
        return ' '.join(shlex.quote(word) for word in prefix + self.args)


C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}


def run_argv(module, argv, check_rc=True, data=None):
    """Run ARGV (a list, never a shell string) with LC_ALL=C; with check_rc a failure is a LabError."""
    rc, out, err = module.run_command(argv, data=data, binary_data=data is not None, environ_update=C_LOCALE)
    if check_rc and rc != 0:
        raise LabError('%s failed (rc=%d): %s' % (' '.join(argv), rc, (err or out).strip()))
    return rc, out, err


class IPRoute:
    """Reads state and applies changes with the ``ip`` binary; one instance per module run."""

    def __init__(self, module):
        self.module = module
        self.ip = module.get_bin_path('ip', required=True)
        self.done = []  # text of every change applied (or, in check mode, that would be applied)

    def run(self, args, netns=None, data=None, check_rc=True, tool='ip'):
        binary = self.ip if tool == 'ip' else self.module.get_bin_path(tool, required=True)
        argv = [binary] + (['-n', netns] if netns else []) + [str(a) for a in args]
        return run_argv(self.module, argv, check_rc=check_rc, data=data)

    def query(self, args, netns=None, tool='ip'):
        """``ip -j ARGS`` (or ``bridge -j ARGS``): parsed JSON."""
        _rc, out, _err = self.run(['-j'] + list(args), netns=netns, tool=tool)
        return parse_json_output(out)

    def netns_names(self):
        return set(item['name'] for item in self.query(['netns', 'list']))

    def netns_by_id(self):
        """{nsid: name} of the named namespaces this one has an id for (what link_netnsid refers to)."""
        return dict((item['id'], item['name']) for item in self.query(['netns', 'list']) if 'id' in item)

    def route_get(self, address):
        """How this namespace routes ADDRESS: {'dev', 'gateway'} ({} when it has no route)."""
        rc, out, _err = self.run(['-j', 'route', 'get', address], check_rc=False)
        found = parse_json_output(out) if rc == 0 else []
        return {'dev': found[0].get('dev'), 'gateway': found[0].get('gateway')} if found else {}

    def routes_get(self, addresses):
        """route_get for every one of ADDRESSES in one ``ip -batch`` ({} for an address without a route:
        -force goes on past it, and the answers are matched by dst)."""
        data = ''.join('route get %s\n' % address for address in addresses)
        _rc, out, _err = self.run(['-j', '-force', '-batch', '-'], check_rc=False, data=data)
        found = {}
        for line in out.splitlines():
            try:
                routes = json.loads(line)
            except ValueError:
                continue
            for route in routes if isinstance(routes, list) else []:
                found[route.get('dst')] = {'dev': route.get('dev'), 'gateway': route.get('gateway')}
        return dict((address, found.get(address, {})) for address in addresses)

    def links(self, netns=None):
        """Every link of a namespace with its details and addresses (IPv4, and IPv6 but link-local), by name."""
        return dict((link['name'], link) for link in
                    (normalize_link(raw) for raw in self.query(['-d', 'addr', 'show'], netns=netns)))

    def links_and_routes(self, netns=None):
        """A namespace's links (as links()) and its routes of both families, {(table, family): [route]} (every
        table; the main one at least), read by one ``ip -batch`` process instead of three."""
        families = [4, 6] if os.path.isdir('/proc/sys/net/ipv6') else [4]
        roots = {4: '0.0.0.0/0', 6: '::/0'}  # "table all" alone lists both families; root picks one
        script = 'addr show\n' + ''.join('route show table all root %s\n' % roots[f] for f in families)
        _rc, out, _err = self.run(['-j', '-d', '-N', '-batch', '-'], netns=netns, data=script)
        docs = parse_json_stream(out)
        if len(docs) != 1 + len(families):  # an iproute2 that prints nothing for an empty list: read apart
            routes = {}
            for family in families:
                for route in self.routes(netns=netns, table=ROUTE_TABLES['main'], family=family):
                    routes.setdefault((route['table'], family), []).append(route)
            return self.links(netns=netns), routes
        links = dict((link['name'], link) for link in (normalize_link(raw) for raw in docs[0]))
        routes = {}
        for family, raw_routes in zip(families, docs[1:]):
            for raw in raw_routes:
                route = normalize_route(raw, None, family)
                routes.setdefault((route['table'], family), []).append(route)
        return links, routes

    def link(self, name, netns=None):
        """One link, or None when it does not exist."""
        rc, out, _err = self.run(['-j', '-d', 'addr', 'show', 'dev', name], netns=netns, check_rc=False)
        if rc != 0:
            return None
        found = parse_json_output(out)
        return normalize_link(found[0]) if found else None

    def netns_pids(self, name):
        """The ids of the processes that run inside the named network namespace (``ip netns pids``)."""
        _rc, out, _err = self.run(['netns', 'pids', name])
        return sorted(int(word) for word in out.split() if word.isdigit())

    def routes(self, netns=None, table=ROUTE_TABLES['main'], family=4):
        """The routes of one family (4 or 6) in one table: ``ip route`` alone reads only IPv4. A kernel
        without IPv6 (ipv6.disable=1) has no IPv6 routes, rather than an error for IPv4-only labs."""
        if family == 6 and not os.path.isdir('/proc/sys/net/ipv6'):
            return []
        raw = self.query([FAMILY_SWITCH[family], '-N', 'route', 'show', 'table', str(table)], netns=netns)
        return [normalize_route(r, table, family) for r in raw]

    def apply(self, changes):
        """Run the changes in order; consecutive changes in one namespace go through one ``ip -batch``.

        In check mode nothing runs: the changes are only recorded.
        """
        for change in changes:
            for token in change.args:
                if token and not _BATCH_TOKEN_RE.match(token):
                    raise LabError('refusing to pass %r to ip: unsafe characters' % token)
        self.done.extend(change.text() for change in changes)
        if self.module.check_mode:
            return
        index = 0
        while index < len(changes):
            netns, tool = changes[index].netns, changes[index].tool
            group = []
            while index < len(changes) and (changes[index].netns, changes[index].tool) == (netns, tool):
                group.append(changes[index])
                index += 1
            self._run_batch(netns, group, tool)

    def _run_batch(self, netns, group, tool='ip'):
        if len(group) == 1:
            self.run(group[0].args, netns=netns, tool=tool)
            return
        # An empty word (``alias ""`` clears an alias) must be quoted for the batch parser.
        script = ''.join(' '.join(a or '""' for a in c.args) + '\n' for c in group)
        rc, out, err = self.run(['-batch', '-'], netns=netns, data=script, check_rc=False, tool=tool)
        if rc != 0:
            message = (err or out).strip()
            failed = re.search(r'Command failed -:(\d+)', message)
            if failed and 0 < int(failed.group(1)) <= len(group):
                message = '%s failed: %s' % (group[int(failed.group(1)) - 1].text(), message)
            raise LabError(message)


def diff_text(lines):
    return ''.join(line + '\n' for line in sorted(lines))


def exit_with_changes(module, iproute, before_lines, after_lines, **extra):
    """End a module run: changed when anything ran (or would run), the commands, and the diff."""
    result = dict(extra, changed=bool(iproute.done), commands=iproute.done)
    if module._diff:
        result['diff'] = {'before': diff_text(before_lines), 'after': diff_text(after_lines)}
    module.exit_json(**result)


def run_guarded(module, body):
    """Run a module body; a LabError becomes the task's failure message."""
    try:
        body(module)
    except LabError as exc:
        module.fail_json(msg=str(exc))
