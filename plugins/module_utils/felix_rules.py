# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's policy as Felix programs it in iptables mode: the chains, their rule ids, the IP sets.

:func:`render` computes the wanted state of a host for one IP family (pure: no commands; 4 for
iptables, 6 for ip6tables, as Felix keeps a table per family), :func:`parse_save` reads
``iptables-save -t filter`` (or ``ip6tables-save``) and ``ipset save``, :func:`plan` compares the two by Felix's rule ids and
:func:`restore_text` / :func:`ipset_text` write what ``iptables-restore --noflush`` and ``ipset
restore`` apply. The facts used, with their paths in Calico's source, are in docs/policy.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import re
from collections import OrderedDict

from ansible_collections.labnet.calico.plugins.module_utils import calico_selector
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import (
    PROTOCOL_NAMES, address, applies, pod_labels, rule_families,
)
from ansible_collections.labnet.calico.plugins.module_utils.iproute import DEFAULT_K8S_NAMESPACE

CHAIN_PREFIX = 'cali-'          # rule_defs.go ChainNamePrefix: every chain the lab owns
MAX_CHAIN_NAME = 28             # iptables/table.go MaxChainNameLength
HASH_LENGTH = 16                # generictables HashLength
COMMENT_PREFIX = 'cali:'        # the rule id comment Felix writes
MARK_ACCEPT, MARK_PASS = 0x10000, 0x20000   # Felix's first two bits of its default mark mask 0xffff0000
TIER = 'default'
WORKLOAD_IFACE_PREFIX = 'cali'
BUILTIN_JUMPS = (('INPUT', 'cali-INPUT'), ('FORWARD', 'cali-FORWARD'), ('OUTPUT', 'cali-OUTPUT'))
IPSET_COMMENT = 'comment'       # the lab creates its sets with the comment extension, Felix does not: its tag
IPSET_FAMILY = {4: 'inet', 6: 'inet6'}      # felix/ipsets/ipset_defs.go IPFamilyV4 / IPFamilyV6
# static.go ICMPv6Filter: what a workload may always send its host over IPv6, before any egress policy -
# multicast listener query/report/done, router solicitation, neighbour solicitation and advertisement.
ICMPV6_TO_HOST = (130, 131, 132, 133, 135, 136)
_ID_RE = re.compile(r'--comment "?' + COMMENT_PREFIX + r'([A-Za-z0-9_-]{%d})"?' % HASH_LENGTH)


def length_limited(prefix, suffix, max_length=MAX_CHAIN_NAME):
    """libcalico-go hash.GetLengthLimitedID: PREFIX+SUFFIX, or PREFIX '_' and a SHA-256 when too long."""
    total = len(prefix) + len(suffix)
    if total > max_length or (total == max_length and suffix[:1] == '_'):
        digest = base64.urlsafe_b64encode(hashlib.sha256(suffix.encode('utf-8')).digest()).decode('ascii').rstrip('=')
        return prefix + '_' + digest[:max_length - 1 - len(prefix)]
    return prefix + suffix


def policy_id(name, namespace=DEFAULT_K8S_NAMESPACE):
    """types.PolicyID.ID() of a NetworkPolicy: np/<namespace>/<name>."""
    return 'np/%s/%s' % (namespace, name)


def policy_chain(direction, name, namespace=DEFAULT_K8S_NAMESPACE):
    """cali-pi-<id> (ingress) or cali-po-<id> (egress), length-limited as Felix does."""
    return length_limited('cali-pi-' if direction == 'ingress' else 'cali-po-', policy_id(name, namespace))


def endpoint_chain(direction, ifname):
    """cali-tw-<iface> (to the workload) or cali-fw-<iface> (from it)."""
    return length_limited('cali-tw-' if direction == 'to' else 'cali-fw-', ifname)


def profile(namespace):
    """A namespace's profile (kns.<namespace>), which allows both ways."""
    return 'kns.' + namespace


def profile_chain(direction, namespace=DEFAULT_K8S_NAMESPACE):
    return length_limited('cali-pri-' if direction == 'ingress' else 'cali-pro-', profile(namespace))


def rule_ids(chain, bodies):
    """generictables.RuleHashes: a SHA-224 chained over the chain name and each rule as rendered with
    HASH in place of its id comment, in URL-safe base64, 16 characters."""
    digest = hashlib.sha224(chain.encode('utf-8')).digest()
    ids = []
    for body in bodies:
        digest = hashlib.sha224(digest + ('-A %s HASH %s' % (chain, body)).encode('utf-8')).digest()
        ids.append(base64.urlsafe_b64encode(digest).decode('ascii').rstrip('=')[:HASH_LENGTH])
    return ids


def rule_lines(chain, bodies):
    """The -A lines of CHAIN, each with its rule id comment."""
    return ['-A %s -m comment --comment "%s%s" %s' % (chain, COMMENT_PREFIX, rid, body)
            for rid, body in zip(rule_ids(chain, bodies), bodies)]


def _mark(bit):
    return '-m mark --mark 0x%x/0x%x' % (bit, bit)


def _clear(bit):
    return '-m mark --mark 0x0/0x%x' % bit


def _set_mark(bit):
    return '-j MARK --set-xmark 0x%x/0x%x' % (bit, bit)


def _comment(text):
    return '-m comment --comment "%s"' % text


def _ports(ranges):
    return ','.join(str(low) if low == high else '%d:%d' % (low, high) for low, high in ranges)


def net_set_name(nets, family=4):
    """The lab's IP set for a rule's several nets (Felix matches them with mark blocks instead)."""
    digest = hashlib.sha224(('n:' + ','.join(nets)).encode('utf-8')).digest()
    return (calico_selector.ipset_prefix(family) + 'n:' + base64.urlsafe_b64encode(digest).decode('ascii').rstrip('='))[:31]


def _icmp_match(family, icmp_type, code=None):
    """felix/iptables/match_builder.go ICMPType / ICMPV6Type (and ...AndCode)."""
    flag = '-m icmp --icmp-type' if family == 4 else '-m icmp6 --icmpv6-type'
    return '%s %d%s' % (flag, icmp_type, '' if code is None else '/%d' % code)


class Renderer(object):
    """Renders the chains of one host for one FAMILY; ``sets`` collects the IP sets the chains use."""

    def __init__(self, pods, family=4):
        self.pods = pods
        self.family = family
        self.sets = {}

    def selector_set(self, selector):
        """The selector's set of this family: the addresses of this family of the pods it selects."""
        node = calico_selector.parse(selector)
        name = calico_selector.ipset_name(node, self.family)
        self.sets[name] = sorted(address(p, self.family) for p in self.pods
                                 if address(p, self.family) and calico_selector.evaluate(node, pod_labels(p)))
        return name

    def nets_match(self, nets, flag, direction, negated):
        bang = '! ' if negated else ''
        if len(nets) == 1:
            return '%s%s %s' % (bang, flag, nets[0])
        name = net_set_name(nets, self.family)
        self.sets[name] = list(nets)
        return '-m set %s--match-set %s %s' % (bang, name, direction)

    def match(self, rule):
        parts = []
        if rule['protocol'] is not None:
            parts.append('-p %s' % PROTOCOL_NAMES.get(rule['protocol'], rule['protocol']))
        for side, flag, direction, port_flag in (('source', '-s', 'src', '--sports'),
                                                 ('destination', '-d', 'dst', '--dports')):
            entity = rule[side]
            if 'nets' in entity:
                parts.append(self.nets_match(entity['nets'], flag, direction, False))
            if 'notNets' in entity:
                parts.append(self.nets_match(entity['notNets'], flag, direction, True))
            if 'selector' in entity:
                parts.append('-m set --match-set %s %s' % (self.selector_set(entity['selector']), direction))
            if 'notSelector' in entity:
                parts.append('-m set ! --match-set %s %s' % (self.selector_set(entity['notSelector']), direction))
            if 'ports' in entity:
                parts.append('-m multiport %s %s' % (port_flag, _ports(entity['ports'])))
            if 'notPorts' in entity:
                parts.append('-m multiport ! %s %s' % (port_flag, _ports(entity['notPorts'])))
        if rule['icmp'] is not None:
            parts.append(_icmp_match(self.family, rule['icmp']['type'], rule['icmp'].get('code')))
        return ' '.join(parts)

    def policy_rules(self, policy, direction):
        """policy.go CombineMatchAndActionsForProtoRule: Allow/Pass set their mark and return, Deny drops,
        Log logs with the prefix calico-packet; the first rule carries PolicyToIptablesChains' comment.
        A rule not for this family is left out (policy.go FilterRuleToIPVersion)."""
        bodies = []
        for rule in policy[direction]:
            if self.family not in rule_families(rule):
                continue
            match = self.match(rule)
            prefix = match + ' ' if match else ''
            if rule['action'] == 'Log':
                bodies.append(prefix + '-j LOG --log-prefix "calico-packet: " --log-level 5')
            elif rule['action'] == 'Deny':
                bodies.append(prefix + '-j DROP')
            else:
                bit = MARK_ACCEPT if rule['action'] == 'Allow' else MARK_PASS
                bodies.append(prefix + _set_mark(bit))
                bodies.append(_mark(bit) + ' -j RETURN')
        if bodies:
            bodies[0] = _comment('NetworkPolicy %s/%s %s' % (policy['namespace'], policy['name'], direction)) + ' ' + bodies[0]
        return bodies


def _endpoint_bodies(policies, direction, from_workload, namespace):
    """endpoints.go endpointIptablesChain: conntrack, clear the marks, the tier, the profile."""
    bodies = ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-m conntrack --ctstate INVALID -j DROP',
              '-j MARK --set-xmark 0x0/0x%x' % (MARK_ACCEPT | MARK_PASS)]
    if from_workload:
        bodies += ['-p udp -m multiport --dports 4789 %s -j DROP' % _comment('Drop VXLAN encapped packets originating in workloads'),
                   '-p ipencap %s -j DROP' % _comment('Drop IPinIP encapped packets originating in workloads')]
    if policies:
        bodies.append('%s -j MARK --set-xmark 0x0/0x%x' % (_comment('Start of tier ' + TIER), MARK_PASS))
        for policy in policies:
            bodies.append('%s -j %s' % (_clear(MARK_PASS), policy_chain(direction, policy['name'], policy['namespace'])))
            bodies.append('%s %s -j RETURN' % (_comment('Return if policy accepted'), _mark(MARK_ACCEPT)))
        bodies.append('%s %s -j DROP' % (_comment('End of tier %s. Drop if no policies passed packet' % TIER),
                                         _clear(MARK_PASS)))
    bodies.append('-j ' + profile_chain(direction, namespace))
    bodies.append('%s %s -j RETURN' % (_comment('Return if profile accepted'), _mark(MARK_ACCEPT)))
    bodies.append('%s -j DROP' % _comment('Drop if no profiles matched'))
    return bodies


def render(host_pods, lab_pods, policies, family=4):
    """The wanted state of one host in FAMILY's table: {'chains': {name: [rule lines]}, 'jumps': {builtin: line},
    'sets': {name: [members]}}. HOST_PODS: this host's pods ({name, ip, ip6, host_ifname, labels});
    LAB_PODS: every pod of the lab ({name, ip, ip6, labels}); POLICIES: calico_policy.normalize()'s list."""
    renderer = Renderer(lab_pods, family)
    bodies = OrderedDict()
    wildcard = WORKLOAD_IFACE_PREFIX + '+'
    bodies['cali-INPUT'] = ['-i %s -g cali-wl-to-host' % wildcard]
    # static.go filterWorkloadToHostChain: over IPv6 the ICMPv6Filter accepts come first (NDP keeps working)
    ndp = ['-p %s %s -j ACCEPT' % (PROTOCOL_NAMES[58], _icmp_match(6, t)) for t in ICMPV6_TO_HOST] if family == 6 else []
    bodies['cali-wl-to-host'] = ndp + ['-j cali-from-wl-dispatch',
                                       '%s -j ACCEPT' % _comment('Configured DefaultEndpointToHostAction')]
    bodies['cali-FORWARD'] = ['-j MARK --set-xmark 0x0/0x%x' % MARK_PASS,
                              '-i %s -j cali-from-wl-dispatch' % wildcard, '-o %s -j cali-to-wl-dispatch' % wildcard,
                              '%s %s -j ACCEPT' % (_comment('Policy explicitly accepted packet.'), _mark(MARK_ACCEPT))]
    bodies['cali-OUTPUT'] = ['%s -j ACCEPT' % _mark(MARK_ACCEPT)]
    pods = sorted(host_pods, key=lambda p: p['host_ifname'])
    bodies['cali-from-wl-dispatch'] = ['-i %s -g %s' % (p['host_ifname'], endpoint_chain('from', p['host_ifname']))
                                       for p in pods] + ['%s -j DROP' % _comment('Unknown interface')]
    bodies['cali-to-wl-dispatch'] = ['-o %s -g %s' % (p['host_ifname'], endpoint_chain('to', p['host_ifname']))
                                     for p in pods] + ['%s -j DROP' % _comment('Unknown interface')]
    used = {'ingress': [], 'egress': []}
    namespaces = sorted(set(pod.get('namespace') or DEFAULT_K8S_NAMESPACE for pod in pods)) or [DEFAULT_K8S_NAMESPACE]
    for pod in pods:
        for direction, type_, chain_dir in (('ingress', 'Ingress', 'to'), ('egress', 'Egress', 'from')):
            selecting = [p for p in policies if applies(p, type_, pod)]
            for policy in selecting:
                if policy not in used[direction]:
                    used[direction].append(policy)
            bodies[endpoint_chain(chain_dir, pod['host_ifname'])] = _endpoint_bodies(
                selecting, direction, chain_dir == 'from', pod.get('namespace') or DEFAULT_K8S_NAMESPACE)
    for direction in ('ingress', 'egress'):
        for namespace in namespaces:
            bodies[profile_chain(direction, namespace)] = [
                '%s %s' % (_comment('Profile %s %s' % (profile(namespace), direction)), _set_mark(MARK_ACCEPT)),
                _mark(MARK_ACCEPT) + ' -j RETURN']
        for policy in used[direction]:
            bodies[policy_chain(direction, policy['name'], policy['namespace'])] = renderer.policy_rules(policy, direction)
    chains = OrderedDict((name, rule_lines(name, rules)) for name, rules in bodies.items())
    jumps = OrderedDict()
    for builtin, target in BUILTIN_JUMPS:
        rid = rule_ids(builtin, ['-j ' + target])[0]
        jumps[builtin] = '-I %s 1 -m comment --comment "%s%s" -j %s' % (builtin, COMMENT_PREFIX, rid, target)
    return {'chains': chains, 'jumps': jumps, 'sets': OrderedDict(sorted(renderer.sets.items()))}


def line_id(line):
    """The rule id of a saved rule, or None."""
    found = _ID_RE.search(line)
    return found.group(1) if found else None


def parse_save(text):
    """``iptables-save -t filter``: {'chains': {lab chain: [lines]}, 'builtin': {chain: [lines]}}."""
    chains, builtin, table = OrderedDict(), OrderedDict(), None
    for line in text.splitlines():
        if line.startswith('*'):
            table = line[1:].strip()
            continue
        if table != 'filter':
            continue
        if line.startswith(':'):
            name = line[1:].split()[0]
            if name.startswith(CHAIN_PREFIX):
                chains[name] = []
            else:
                builtin[name] = []
        elif line.startswith('-A '):
            name = line.split()[1]
            (chains if name in chains else builtin).setdefault(name, []).append(line)
    return {'chains': chains, 'builtin': builtin}


def parse_ipset_save(text, family=None):
    """``ipset save``: {lab set: sorted members}; a lab set is a cali40 (cali60 for IPv6) set made with the
    comment extension. FAMILY (4 or 6) keeps that family's sets only."""
    prefixes = tuple(calico_selector.ipset_prefix(f) for f in ((family,) if family else (4, 6)))
    sets = OrderedDict()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == 'create' and words[1].startswith(prefixes) and IPSET_COMMENT in words[3:]:
            sets[words[1]] = []
        elif len(words) >= 3 and words[0] == 'add' and words[1] in sets:
            member = words[2]
            sets[words[1]].append(member.rsplit('/', 1)[0] if member.endswith(('/32', '/128')) else member)
    return OrderedDict((name, sorted(members)) for name, members in sets.items())


def lab_jump(line):
    words = line.split()
    return line_id(line) is not None and '-j' in words and words[words.index('-j') + 1].startswith(CHAIN_PREFIX)


def plan(current, wanted, sets_now):
    """What to change: {'write': [chains], 'delete': [chains], 'insert': [builtins], 'unjump': [saved lines],
    'create': [sets], 'members': {set: (add, delete)}, 'destroy': [sets]}. WANTED=None removes everything."""
    chains_now, builtin = current['chains'], current['builtin']
    want_chains = wanted['chains'] if wanted else {}
    want_jumps = wanted['jumps'] if wanted else {}
    want_sets = wanted['sets'] if wanted else {}
    changes = {'write': [], 'delete': [], 'insert': [], 'unjump': [], 'create': [], 'members': OrderedDict(),
               'destroy': []}
    for name, lines in want_chains.items():
        if name not in chains_now or [line_id(line) for line in chains_now[name]] != [line_id(line) for line in lines]:
            changes['write'].append(name)
    changes['delete'] = [name for name in chains_now if name not in want_chains]
    for name, lines in builtin.items():
        for line in lines:
            if lab_jump(line) and not (name in want_jumps and line_id(line) == line_id(want_jumps[name])):
                changes['unjump'].append(line)
    for name, jump in want_jumps.items():
        if not any(line_id(line) == line_id(jump) for line in builtin.get(name, [])):
            changes['insert'].append(name)
    for name, members in want_sets.items():
        if name not in sets_now:
            changes['create'].append(name)
            changes['members'][name] = (list(members), [])
        else:
            add = [m for m in members if m not in sets_now[name]]
            delete = [m for m in sets_now[name] if m not in members]
            if add or delete:
                changes['members'][name] = (add, delete)
    changes['destroy'] = [name for name in sets_now if name not in want_sets]
    return changes


def changed(changes):
    return any(changes[key] for key in changes)


def restore_text(changes, wanted):
    """The input of ``iptables-restore --noflush``: only the lab's chains, and its jumps in INPUT/FORWARD/OUTPUT.
    Declaring a chain flushes it (or creates it); nothing else of the table is touched."""
    lines = ['*filter']
    lines += [':%s - [0:0]' % name for name in changes['write'] + changes['delete']]
    for name in changes['write']:
        lines += wanted['chains'][name]
    lines += ['-D' + line[2:] for line in changes['unjump']]
    lines += [wanted['jumps'][name] for name in changes['insert']]
    lines += ['-X %s' % name for name in changes['delete']]
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


def ipset_create_text(changes, family=4):
    """``ipset restore -exist`` input that creates sets and adds members (run before iptables-restore)."""
    lines = ['create %s hash:net family %s %s' % (name, IPSET_FAMILY[family], IPSET_COMMENT) for name in changes['create']]
    for name, (add, _delete) in changes['members'].items():
        lines += ['add %s %s' % (name, member) for member in add]
    return '\n'.join(lines) + '\n' if lines else ''


def ipset_cleanup_text(changes):
    """``ipset restore -exist`` input that removes stale members and sets (run after iptables-restore)."""
    lines = []
    for name, (_add, delete) in changes['members'].items():
        lines += ['del %s %s' % (name, member) for member in delete]
    lines += ['destroy %s' % name for name in changes['destroy']]
    return '\n'.join(lines) + '\n' if lines else ''


def state_text(chains, builtin_lines, sets):
    """A readable view of the lab's state for diff mode."""
    lines = []
    for name in sorted(chains):
        lines.append(':%s' % name)
        lines += chains[name]
    lines += builtin_lines
    for name, members in sets.items():
        lines.append('ipset %s: %s' % (name, ' '.join(members)))
    return '\n'.join(lines) + '\n'
