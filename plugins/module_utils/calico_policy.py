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
RULE_KEYS = ('action', 'protocol', 'icmp', 'source', 'destination')
ENTITY_KEYS = ('selector', 'notSelector', 'nets', 'notNets', 'ports', 'notPorts')
ACTIONS = ('Allow', 'Deny', 'Log', 'Pass')
TYPES = ('Ingress', 'Egress')
PROTOCOLS = {'TCP': 6, 'UDP': 17, 'ICMP': 1, 'SCTP': 132, 'UDPLite': 136}
PROTOCOL_NAMES = {6: 'tcp', 17: 'udp', 1: 'icmp', 132: 'sctp', 136: 'udplite'}
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


def _nets(value, field):
    if not isinstance(value, list) or not value:
        raise PolicyProblem('%s: %r must be a non-empty list of IPv4 CIDRs' % (field, value))
    nets = []
    for item in value:
        try:
            nets.append(ipaddress.IPv4Network(str(item), strict=False))
        except ValueError:
            raise PolicyProblem('%s: %r is not an IPv4 CIDR (the lab is IPv4 only)' % (field, item))
    return sorted(set(str(n) for n in nets))


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
            out[key] = _nets(value[key], '%s.%s' % (field, key))
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
    if value == 'ICMPv6':
        raise PolicyProblem('%s: ICMPv6: the lab is IPv4 only' % field)
    raise PolicyProblem('%s: %r is not one of %s or a number 1-255' % (field, value, ', '.join(sorted(PROTOCOLS))))


def _icmp(value, field, protocol):
    if value is None:
        return None
    if protocol != 1:
        raise PolicyProblem('%s: icmp needs protocol ICMP' % field)
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
    return {'action': action, 'protocol': protocol, 'icmp': _icmp(value.get('icmp'), field + '.icmp', protocol),
            'source': _entity(value.get('source'), field + '.source', protocol, namespace),
            'destination': _entity(value.get('destination'), field + '.destination', protocol, namespace)}


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


def _entity_matches(entity, pod, port):
    """POD ({ip, labels}) and PORT against a rule's source or destination."""
    ip = ipaddress.IPv4Address(pod['ip'])
    if 'selector' in entity and not selects(entity['selector'], pod):
        return False
    if 'notSelector' in entity and selects(entity['notSelector'], pod):
        return False
    if 'nets' in entity and not any(ip in ipaddress.IPv4Network(n) for n in entity['nets']):
        return False
    if 'notNets' in entity and any(ip in ipaddress.IPv4Network(n) for n in entity['notNets']):
        return False
    if 'ports' in entity and not _port_in(port, entity['ports']):
        return False
    if 'notPorts' in entity and _port_in(port, entity['notPorts']):
        return False
    return True


def rule_matches(rule, src, dst, protocol, port, icmp_type=8):
    """Whether RULE matches a packet SRC -> DST (pods) of PROTOCOL (number) to PORT (the source port is
    taken as unknown: an ephemeral port no rule names)."""
    if rule['protocol'] is not None and rule['protocol'] != protocol:
        return False
    if rule['icmp'] is not None:
        if rule['icmp']['type'] != icmp_type or rule['icmp'].get('code', 0) != 0:
            return False
    return _entity_matches(rule['source'], src, None) and _entity_matches(rule['destination'], dst, port)


def direction_verdict(policies, type_, local, src, dst, protocol, port):
    """'allow' or 'deny' (and the deciding policy) of one direction at pod LOCAL."""
    kind = type_.lower()
    selecting = [p for p in policies if applies(p, type_, local)]
    if not selecting:
        return 'allow', 'profile (no policy selects %s)' % local['name']
    for policy in selecting:
        for index, rule in enumerate(policy[kind]):
            if not rule_matches(rule, src, dst, protocol, port):
                continue
            where = '%s %s[%d]' % (policy['name'], kind, index)
            if rule['action'] == 'Allow':
                return 'allow', where
            if rule['action'] == 'Deny':
                return 'deny', where
            if rule['action'] == 'Pass':
                return 'allow', where + ' Pass, then the profile'
    return 'deny', 'end of tier (%s selected by %s)' % (local['name'], ', '.join(p['name'] for p in selecting))


def verdict(policies, src, dst, protocol, port=None):
    """('allow'|'deny', reason) for a new flow SRC -> DST: the source's egress, then the destination's ingress."""
    result, why = direction_verdict(policies, 'Egress', src, src, dst, protocol, port)
    if result == 'deny':
        return result, 'egress: ' + why
    result, why2 = direction_verdict(policies, 'Ingress', dst, src, dst, protocol, port)
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


def expected_matrix(policies, pods):
    """{(src, dst, service): ('allow'|'deny', reason)} for every ordered pair of PODS ([{name, ip, labels}])
    and every service: 'icmp' and each 'tcp/N' / 'udp/N' of :func:`probe_services`."""
    services = [('icmp', None)] + probe_services(policies)
    matrix = {}
    for src in pods:
        for dst in pods:
            if src['name'] == dst['name']:
                continue
            for proto, port in services:
                label = proto if port is None else '%s/%d' % (proto, port)
                number = {'icmp': 1, 'tcp': 6, 'udp': 17}[proto]
                matrix[(src['name'], dst['name'], label)] = verdict(policies, src, dst, number, port)
    return matrix
