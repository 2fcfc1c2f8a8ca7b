# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico network policy in the lab: pods' ``labels``, ``calico_policies``, and what they decide.

:func:`check_policies` and :func:`check_labels` validate the inventory (every problem names the
policy and field), :func:`normalize` turns a checked list into the form the renderer
(felix_rules.py) and the model use, and :func:`verdict` is the model: given the pods, their labels
and the policies, whether a packet from one pod to another is allowed - as Felix's chains decide it
(docs/policy.md): policies in ``order`` (unset last, then by name); a pod selected by a policy of a
type denies what no rule of the tier allows for that type; ``Pass`` skips to the end of the tier
(then the profile allows); ``Log`` logs and goes on; a pod no policy of the type selects allows.
Each IP family is judged apart: a rule applies to IPv4, IPv6 or both, as Felix renders it into
iptables and ip6tables (:func:`rule_families`; felix/rules/policy.go FilterRuleToIPVersion).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.labnet.calico.plugins.module_utils import calico_selector
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    DEFAULT_K8S_NAMESPACE, LabError, check_k8s_namespace,
)

POLICY_KEYS = ('name', 'namespace', 'order', 'selector', 'types', 'ingress', 'egress')
RULE_KEYS = ('action', 'ipVersion', 'protocol', 'icmp', 'source', 'destination')
ENTITY_KEYS = ('selector', 'notSelector', 'nets', 'notNets', 'ports', 'notPorts')
ACTIONS = ('Allow', 'Deny', 'Log', 'Pass')
TYPES = ('Ingress', 'Egress')
PROTOCOLS = {'TCP': 6, 'UDP': 17, 'ICMP': 1, 'ICMPv6': 58, 'SCTP': 132, 'UDPLite': 136}
# As iptables-save / ip6tables-save print them (58 is ipv6-icmp in /etc/protocols).
PROTOCOL_NAMES = {6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite'}
ICMP_PROTOCOLS = {1: 4, 58: 6}   # ICMP implies ipVersion 4, ICMPv6 6 (felix/calc/rule_convert.go ipVersionToProtoIPVersion)
ECHO_REQUEST = {4: 8, 6: 128}
PORT_PROTOCOLS = (6, 17, 132, 136)
MAX_PORTS = 15          # one iptables multiport match (a range counts twice)
# The label Calico gives every workload endpoint: its namespace (api v3 LabelNamespace). Pods may not set it.
NAMESPACE_LABEL = 'projectcalico.org/namespace'
# A policy name is a Kubernetes object name (a DNS subdomain); it names the policy's chains.
_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$')
# Label keys and values as Kubernetes allows them (an optional DNS prefix and a name of 63).
_LABEL_KEY_RE = re.compile(r'^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')
_LABEL_VALUE_RE = re.compile(r'^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$')


class PolicyProblem(ValueError):
    """One problem of one field."""


def check_labels(host, index, labels, problems):
    """A pod's labels: a mapping of Kubernetes label keys to string values."""
    field = '%s: calico_workloads[%d].labels' % (host, index)
    if labels is None:
        return
    if not isinstance(labels, dict):
        problems.append('%s: %r must be a mapping of label to value' % (field, labels))
        return
    for key, value in labels.items():
        if isinstance(key, str) and key.startswith('projectcalico.org/'):
            problems.append('%s: key %r: the projectcalico.org/ prefix is Calico\'s own (it sets %s)'
                            % (field, key, NAMESPACE_LABEL))
        elif not isinstance(key, str) or not _LABEL_KEY_RE.match(key):
            problems.append('%s: key %r is not a label name (letters, digits, "-", "_", ".", at most 63, '
                            'an optional DNS prefix and "/")' % (field, key))
        if not isinstance(value, str) or not _LABEL_VALUE_RE.match(value):
            problems.append('%s.%s: %r is not a label value (a string of letters, digits, "-", "_", ".", '
                            'at most 63; quote numbers and booleans)' % (field, key, value))


def _selector(value, field):
    if not isinstance(value, str):
        raise PolicyProblem('%s: %r must be a selector string, e.g. app == "web"' % (field, value))
    try:
        return calico_selector.parse(value)
    except calico_selector.SelectorError as exc:
        raise PolicyProblem('%s: %r does not parse: %s' % (field, value, exc))


def _nets(value, field, negated):
    if not isinstance(value, list) or not value:
        raise PolicyProblem('%s: %r must be a non-empty list of CIDRs' % (field, value))
    nets = []
    for item in value:
        try:
            net = ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise PolicyProblem('%s: %r is not an IPv4 or IPv6 CIDR' % (field, item))
        if negated and net.prefixlen == 0:  # libcalico-go validator.go: matches nothing
            raise PolicyProblem('%s: %s: a catch-all CIDR in a negation matches no traffic' % (field, item))
        nets.append(net)
    return [str(n) for n in sorted(set(nets), key=lambda n: (n.version, n))]


def _port(item, field):
    if isinstance(item, bool):
        raise PolicyProblem('%s: %r is not a port' % (field, item))
    if isinstance(item, int):
        low = high = item
    elif isinstance(item, str) and re.match(r'^\d+(:\d+)?$', item):
        low, _sep, high = item.partition(':')
        low, high = int(low), int(high or low)
    else:
        raise PolicyProblem('%s: %r is not a port or a range "low:high" (named ports are not supported)'
                            % (field, item))
    if not 0 <= low <= high <= 65535:
        raise PolicyProblem('%s: %r is outside 0-65535 or a range whose low end is above its high end' % (field, item))
    return (low, high)


def _ports(value, field):
    if not isinstance(value, list) or not value:
        raise PolicyProblem('%s: %r must be a non-empty list of ports' % (field, value))
    ports = [_port(item, field) for item in value]
    if sum(1 if low == high else 2 for low, high in ports) > MAX_PORTS:
        raise PolicyProblem('%s: more than %d ports (a range counts twice): the lab renders one multiport match'
                            % (field, MAX_PORTS))
    return ports


def _in_namespace(namespace, selector=None):
    """A namespaced policy's rule selector as Calico's converter writes it (updateprocessors/rules.go
    getEndpointSelector): limited to the policy's namespace."""
    ns = "%s == '%s'" % (NAMESPACE_LABEL, namespace)
    return ns if selector is None else '(%s) && (%s)' % (ns, selector)


def _entity(value, field, protocol, namespace):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyProblem('%s: %r must be a mapping (%s)' % (field, value, ', '.join(ENTITY_KEYS)))
    unknown = sorted(set(map(str, value)) - set(ENTITY_KEYS))
    if unknown:
        raise PolicyProblem('%s: unknown key %s (a rule\'s %s has %s)'
                            % (field, ', '.join(unknown), field.rsplit('.', 1)[-1], ', '.join(ENTITY_KEYS)))
    out = {}
    for key in ('selector', 'notSelector'):
        if value.get(key) is not None:
            out[key] = calico_selector.canonical(_selector(value[key], '%s.%s' % (field, key)))
    if out:  # any selector field limits the rule to the policy's namespace, notSelector too
        out['selector'] = calico_selector.canonical(calico_selector.parse(_in_namespace(namespace, out.get('selector'))))
    for key in ('nets', 'notNets'):
        if value.get(key) is not None:
            out[key] = _nets(value[key], '%s.%s' % (field, key), key == 'notNets')
    for key in ('ports', 'notPorts'):
        if value.get(key) is not None:
            if protocol not in PORT_PROTOCOLS:
                raise PolicyProblem('%s.%s: ports need protocol TCP, UDP, SCTP or UDPLite' % (field, key))
            out[key] = _ports(value[key], '%s.%s' % (field, key))
    return out


def _protocol(value, field):
    if value is None:
        return None
    if isinstance(value, str) and value in PROTOCOLS:
        return PROTOCOLS[value]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 255:
        return value
    raise PolicyProblem('%s: %r is not one of %s or a number 1-255' % (field, value, ', '.join(sorted(PROTOCOLS))))


def _icmp(value, field, protocol):
    if value is None:
        return None
    if protocol not in ICMP_PROTOCOLS:
        raise PolicyProblem('%s: icmp needs protocol ICMP or ICMPv6' % field)
    if not isinstance(value, dict) or set(value) - set(('type', 'code')) or 'type' not in value:
        raise PolicyProblem('%s: %r must be {type: N} or {type: N, code: M}' % (field, value))
    out = {}
    for key in ('type', 'code'):
        if key in value:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 255:
                raise PolicyProblem('%s.%s: %r is not a number 0-255' % (field, key, number))
            out[key] = number
    return out


def _rule(value, field, namespace):
    if not isinstance(value, dict):
        raise PolicyProblem('%s: %r must be a mapping (%s)' % (field, value, ', '.join(RULE_KEYS)))
    unknown = sorted(set(map(str, value)) - set(RULE_KEYS))
    if unknown:
        raise PolicyProblem('%s: unknown key %s (a rule has %s)' % (field, ', '.join(unknown), ', '.join(RULE_KEYS)))
    action = value.get('action')
    if action not in ACTIONS:
        raise PolicyProblem('%s.action: %r is not one of %s' % (field, action, ', '.join(ACTIONS)))
    protocol = _protocol(value.get('protocol'), field + '.protocol')
    rule = {'action': action, 'protocol': protocol, 'icmp': _icmp(value.get('icmp'), field + '.icmp', protocol),
            'source': _entity(value.get('source'), field + '.source', protocol, namespace),
            'destination': _entity(value.get('destination'), field + '.destination', protocol, namespace)}
    rule['ip_version'] = _ip_version(value.get('ipVersion'), rule, field)
    return rule


def _ip_version(value, rule, field):
    """The one family a rule is for (4, 6) or None for both: its ipVersion, else ICMP's or ICMPv6's, else its
    nets'. Refused as Calico refuses them: a version that the protocol or a CIDR contradicts, and IPv4 and
    IPv6 CIDRs in one rule (libcalico-go validator.go validateRule; the CEL rules of api/.../policy_common.go)."""
    if value is not None and (isinstance(value, bool) or value not in (4, 6)):
        raise PolicyProblem('%s.ipVersion: %r is not 4 or 6' % (field, value))
    implied = ICMP_PROTOCOLS.get(rule['protocol'])
    if value is not None and implied is not None and value != implied:
        raise PolicyProblem('%s.ipVersion: %r, but protocol %s needs ipVersion %d'
                            % (field, value, 'ICMP' if implied == 4 else 'ICMPv6', implied))
    version = value if value is not None else implied
    seen = {}
    for side in ('source', 'destination'):
        for key in ('nets', 'notNets'):
            for net in rule[side].get(key, []):
                seen.setdefault(ipaddress.ip_network(net).version, '%s.%s.%s' % (field, side, key))
    if len(seen) > 1:
        raise PolicyProblem('%s: IPv4 CIDRs (%s) and IPv6 CIDRs (%s) in one rule (Calico refuses them; write two rules)'
                            % (field, seen[4], seen[6]))
    for family, where in seen.items():
        if version is not None and family != version:
            raise PolicyProblem('%s: IPv%d CIDRs in a rule for IPv%d only (ipVersion or protocol)' % (where, family, version))
        version = family
    return version


def rule_families(rule):
    """The IP families a checked rule is rendered for (Felix renders it into iptables for 4, ip6tables for 6)."""
    return (rule['ip_version'],) if rule['ip_version'] else (4, 6)


def _order(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyProblem('%s: %r is not a number' % (field, value))
    return float(value)


def _policy(value, field):
    if not isinstance(value, dict):
        raise PolicyProblem('%s: %r must be a mapping (%s)' % (field, value, ', '.join(POLICY_KEYS)))
    name = value.get('name')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PolicyProblem('%s.name: %r is not a policy name (lower-case letters, digits, "-" and ".")' % (field, name))
    field = 'calico_policies %s' % name
    unknown = sorted(set(map(str, value)) - set(POLICY_KEYS))
    if unknown:
        raise PolicyProblem('%s: unknown key %s (a policy has %s)' % (field, ', '.join(unknown), ', '.join(POLICY_KEYS)))
    try:
        namespace = check_k8s_namespace(value.get('namespace', DEFAULT_K8S_NAMESPACE), field + '.namespace')
    except LabError as exc:
        raise PolicyProblem(str(exc))
    # networkpolicyprocessor.go: the policy's selector, and its namespace
    selector = calico_selector.canonical(calico_selector.parse("(%s) && %s == '%s'" % (
        calico_selector.canonical(_selector(value.get('selector', 'all()'), field + '.selector')),
        NAMESPACE_LABEL, namespace)))
    rules = {}
    for kind in ('ingress', 'egress'):
        items = value.get(kind)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise PolicyProblem('%s.%s: %r must be a list of rules' % (field, kind, items))
        rules[kind] = [_rule(item, '%s.%s[%d]' % (field, kind, index), namespace) for index, item in enumerate(items)]
    types = value.get('types')
    if types is None:  # Calico's default: Ingress, and Egress when there are egress rules
        types = ['Ingress'] + (['Egress'] if rules['egress'] else [])
    if not isinstance(types, list) or not types or any(t not in TYPES for t in types) or len(set(types)) != len(types):
        raise PolicyProblem('%s.types: %r must be a list of Ingress and/or Egress' % (field, types))
    for kind, type_ in (('ingress', 'Ingress'), ('egress', 'Egress')):
        if rules[kind] and type_ not in types:
            raise PolicyProblem('%s.%s: rules given but types %s has no %s (Calico would ignore them)'
                                % (field, kind, types, type_))
    return {'name': name, 'namespace': namespace, 'order': _order(value.get('order'), field + '.order'),
            'selector': selector,
            'types': [t for t in TYPES if t in types], 'ingress': rules['ingress'], 'egress': rules['egress']}


def check_policies(value):
    """(normalized policies in order, problems) for the inventory's calico_policies."""
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [], ['calico_policies: %r must be a list of policies' % (value,)]
    policies, problems, names = [], [], set()
    for index, item in enumerate(value):
        try:
            policy = _policy(item, 'calico_policies[%d]' % index)
        except PolicyProblem as exc:
            problems.append(str(exc))
            continue
        if (policy['namespace'], policy['name']) in names:
            problems.append('calico_policies %s: the name is given twice in namespace %s' % (policy['name'], policy['namespace']))
            continue
        names.add((policy['namespace'], policy['name']))
        policies.append(policy)
    return ordered(policies), problems


def _why_ipv6(rule):
    if rule['protocol'] == 58:
        return 'protocol ICMPv6'
    for side in ('source', 'destination'):
        for key in ('nets', 'notNets'):
            if rule[side].get(key):
                return '%s.%s %s' % (side, key, ', '.join(rule[side][key]))
    return 'ipVersion 6'


def ipv6_only_rules(policies):
    """A problem text for each rule of checked POLICIES that is for IPv6 only, in a lab with no IPv6 host."""
    return ['calico_policies %s.%s[%d]: %s makes it a rule for IPv6 only, but no host has calico_node_address_v6: '
            'it would police nothing' % (policy['name'], kind, index, _why_ipv6(rule))
            for policy in policies for kind in ('ingress', 'egress')
            for index, rule in enumerate(policy[kind]) if rule['ip_version'] == 6]


def ordered(policies):
    """Calico's order: by ``order`` (unset is last), then by name."""
    return sorted(policies, key=lambda p: (p['order'] is None, p['order'] or 0.0, p['namespace'], p['name']))


def normalize(value):
    """The policies, checked and ordered; ValueError naming every problem."""
    policies, problems = check_policies(value)
    if problems:
        raise ValueError('calico_policies: %s' % '; '.join(problems))
    return policies


def pod_labels(pod):
    """A pod's labels as Felix sees its endpoint: its own and its namespace (workloadendpointprocessor.go)."""
    labels = dict(pod.get('labels') or {})
    labels[NAMESPACE_LABEL] = pod.get('namespace') or DEFAULT_K8S_NAMESPACE
    return labels


def selects(selector, pod):
    return calico_selector.selects(selector, pod_labels(pod))


def applies(policy, type_, pod):
    """Whether POLICY is of TYPE ('Ingress'/'Egress') and selects POD."""
    return type_ in policy['types'] and selects(policy['selector'], pod)


def _port_in(port, ranges):
    return port is not None and any(low <= port <= high for low, high in ranges)


def address(pod, family):
    """POD's address of FAMILY (4: ip, 6: ip6), or None."""
    return pod.get('ip' if family == 4 else 'ip6') or None


def _entity_matches(entity, pod, port, family):
    """POD ({ip, ip6, labels}) over FAMILY and PORT against a rule's source or destination."""
    ip = ipaddress.ip_address(address(pod, family))
    if 'selector' in entity and not selects(entity['selector'], pod):
        return False
    if 'notSelector' in entity and selects(entity['notSelector'], pod):
        return False
    if 'nets' in entity and not any(ip in ipaddress.ip_network(n) for n in entity['nets']):
        return False
    if 'notNets' in entity and any(ip in ipaddress.ip_network(n) for n in entity['notNets']):
        return False
    if 'ports' in entity and not _port_in(port, entity['ports']):
        return False
    if 'notPorts' in entity and _port_in(port, entity['notPorts']):
        return False
    return True


def rule_matches(rule, src, dst, protocol, port, family=4):
    """Whether RULE matches a packet SRC -> DST (pods) over FAMILY of PROTOCOL (number) to PORT (the source
    port is taken as unknown: an ephemeral port no rule names; ICMP is an echo request)."""
    if family not in rule_families(rule):
        return False
    if rule['protocol'] is not None and rule['protocol'] != protocol:
        return False
    if rule['icmp'] is not None:
        if rule['icmp']['type'] != ECHO_REQUEST[family] or rule['icmp'].get('code', 0) != 0:
            return False
    return _entity_matches(rule['source'], src, None, family) and _entity_matches(rule['destination'], dst, port, family)


def direction_verdict(policies, type_, local, src, dst, protocol, port, family=4):
    """'allow' or 'deny' (and the deciding policy) of one direction at pod LOCAL."""
    kind = type_.lower()
    selecting = [p for p in policies if applies(p, type_, local)]
    if not selecting:
        return 'allow', 'profile (no policy selects %s)' % local['name']
    for policy in selecting:
        for index, rule in enumerate(policy[kind]):
            if not rule_matches(rule, src, dst, protocol, port, family):
                continue
            where = '%s %s[%d]' % (policy['name'], kind, index)
            if rule['action'] == 'Allow':
                return 'allow', where
            if rule['action'] == 'Deny':
                return 'deny', where
            if rule['action'] == 'Pass':
                return 'allow', where + ' Pass, then the profile'
    return 'deny', 'end of tier (%s selected by %s)' % (local['name'], ', '.join(p['name'] for p in selecting))


def verdict(policies, src, dst, protocol, port=None, family=4):
    """('allow'|'deny', reason) for a new flow SRC -> DST over FAMILY: the source's egress, then the
    destination's ingress."""
    result, why = direction_verdict(policies, 'Egress', src, src, dst, protocol, port, family)
    if result == 'deny':
        return result, 'egress: ' + why
    result, why2 = direction_verdict(policies, 'Ingress', dst, src, dst, protocol, port, family)
    return result, ('ingress: ' + why2) if result == 'deny' else 'egress: %s; ingress: %s' % (why, why2)


def probe_services(policies):
    """The (protocol name, port) pairs the policies name in destination ports: what verify listens on."""
    services = set()
    for policy in policies:
        for kind in ('ingress', 'egress'):
            for rule in policy[kind]:
                if rule['protocol'] in (6, 17):
                    for key in ('ports', 'notPorts'):
                        for low, _high in rule['destination'].get(key, []):
                            services.add((PROTOCOL_NAMES[rule['protocol']], low))
    return sorted(services)


def expected_matrix(policies, pods, family=4):
    """{(src, dst, service): ('allow'|'deny', reason)} over FAMILY for every ordered pair of PODS ([{name, ip,
    ip6, labels}]) that both have an address of it, and every service: 'icmp' (echo, ICMPv6's over IPv6)
    and each 'tcp/N' / 'udp/N' of :func:`probe_services`."""
    services = [('icmp', None)] + probe_services(policies)
    matrix = {}
    with_address = [pod for pod in pods if address(pod, family)]
    for src in with_address:
        for dst in with_address:
            if src['name'] == dst['name']:
                continue
            for proto, port in services:
                label = proto if port is None else '%s/%d' % (proto, port)
                number = {'icmp': 1 if family == 4 else 58, 'tcp': 6, 'udp': 17}[proto]
                matrix[(src['name'], dst['name'], label)] = verdict(policies, src, dst, number, port, family)
    return matrix
