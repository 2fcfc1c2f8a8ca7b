# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's label selector language: parse, evaluate against a pod's labels, and name it.

The grammar and semantics follow libcalico-go/lib/selector (tokenizer/tokenizer.go, parser/parser.go,
parser/ast.go): ``||`` binds loosest, then ``&&``, then a run of leading ``!``; operations are
``label == "v"``, ``!=``, ``in {"a", "b"}``, ``not in {...}``, ``contains``, ``starts with``,
``ends with``, ``has(label)``, ``all()``, ``global()`` and parentheses. ``!=`` and ``not in`` are true
when the label is missing. An empty selector selects everything (``all()``). Label names are runs of
letters, digits and ``_ . / -`` (at most 512). :func:`canonical` renders a selector as Calico's
``String()`` does, and :func:`ipset_name` names its IP set as Felix does: ``cali40s:`` and the start of
the URL-safe base64 SHA-224 of ``s:<canonical>`` (hash.MakeUniqueID, ipsets NameForMainIPSet).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib

MAX_LABEL_LENGTH = 512
IPSET_NAME_MAX = 31     # felix/ipsets/ipset_defs.go MaxIPSetNameLength


def ipset_prefix(family=4):
    """felix/ipsets/ipset_defs.go NewIPVersionConfig: "cali", the IP version, the main-set token "0"."""
    return 'cali%d0' % family


class SelectorError(ValueError):
    """A selector that does not parse; the message says where and why."""


def _ident_char(c):
    return 'a' <= c <= 'z' or 'A' <= c <= 'Z' or '0' <= c <= '9' or c in '_./-'


def tokenize(text):
    """[(kind, value)] ending with ('eof', None)."""
    if not isinstance(text, str):
        raise SelectorError('is not a string')
    tokens, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in ' \t':
            i += 1
        if i >= n:
            tokens.append(('eof', None))
            return tokens
        c, rest = text[i], text[i:]
        last = tokens[-1][0] if tokens else None
        if c in '(){},':
            tokens.append((c, None))
            i += 1
        elif c in '"\'':
            end = text.find(c, i + 1)
            if end < 0:
                raise SelectorError('unterminated string at column %d' % (i + 1))
            tokens.append(('string', text[i + 1:end]))
            i = end + 1
        elif rest.startswith('=='):
            tokens.append(('==', None))
            i += 2
        elif rest.startswith('!='):
            tokens.append(('!=', None))
            i += 2
        elif c == '!':
            tokens.append(('!', None))
            i += 1
        elif rest.startswith('&&'):
            tokens.append(('&&', None))
            i += 2
        elif rest.startswith('||'):
            tokens.append(('||', None))
            i += 2
        elif c in '=&|':
            raise SelectorError('expected %s at column %d' % (c * 2, i + 1))
        elif last == 'label':
            i = _operator(text, i, tokens)
        elif rest.startswith(('has(', 'all(', 'global(')):
            i = _function(text, i, tokens)
        else:
            start = i
            while i < n and _ident_char(text[i]):
                i += 1
            if i == start:
                raise SelectorError('unexpected character %r at column %d' % (c, i + 1))
            if i - start > MAX_LABEL_LENGTH:
                raise SelectorError('label too long at column %d (at most %d characters)' % (start + 1, MAX_LABEL_LENGTH))
            tokens.append(('label', text[start:i]))


def _word_boundary(text, i):
    return i >= len(text) or not _ident_char(text[i])


def _words(text, i, words):
    """The index after WORDS (separated by blanks) at I, or None."""
    for index, word in enumerate(words):
        if not text.startswith(word, i):
            return None
        i += len(word)
        if index < len(words) - 1:
            while i < len(text) and text[i] in ' \t':
                i += 1
    return i if _word_boundary(text, i) else None


def _operator(text, i, tokens):
    for kind, words in (('contains', ['contains']), ('starts with', ['starts', 'with']),
                        ('ends with', ['ends', 'with']), ('not in', ['not', 'in']), ('in', ['in'])):
        end = _words(text, i, words)
        if end is not None:
            tokens.append((kind, None))
            return end
    raise SelectorError('expected an operator after label %r at column %d' % (tokens[-1][1], i + 1))


def _function(text, i, tokens):
    name = text[i:text.index('(', i)]
    i += len(name) + 1
    if name == 'has':
        while i < len(text) and text[i] in ' \t':
            i += 1
        start = i
        while i < len(text) and _ident_char(text[i]):
            i += 1
        if i == start:
            raise SelectorError('expected a label name in has( at column %d' % (start + 1))
        label = text[start:i]
        while i < len(text) and text[i] in ' \t':
            i += 1
    if i >= len(text) or text[i] != ')':
        raise SelectorError("no closing ')' after %s( at column %d" % (name, i + 1))
    tokens.append(('has', label) if name == 'has' else (name, None))
    return i + 1


# Nodes are tuples: ('all',), ('has', label), ('eq'|'ne'|'contains'|'starts'|'ends', label, value),
# ('in'|'notin', label, frozenset), ('not', node), ('and', [nodes]), ('or', [nodes]).
_VALUE_OPS = {'==': 'eq', '!=': 'ne', 'contains': 'contains', 'starts with': 'starts', 'ends with': 'ends'}


def parse(text):
    """The selector TEXT as a tree; SelectorError when it does not parse."""
    tokens = tokenize(text)
    if tokens[0][0] == 'eof':
        return ('all',)
    node, pos = _parse_or(tokens, 0)
    if tokens[pos][0] != 'eof':
        raise SelectorError('unexpected %s at the end of the selector' % _describe(tokens[pos]))
    return node


def _describe(token):
    kind, value = token
    if kind == 'label':
        return 'label %r' % value
    if kind == 'string':
        return 'string %r' % value
    return 'end of input' if kind == 'eof' else repr(kind)


def _parse_or(tokens, pos):
    nodes = []
    node, pos = _parse_and(tokens, pos)
    nodes.append(node)
    while tokens[pos][0] == '||':
        node, pos = _parse_and(tokens, pos + 1)
        nodes.append(node)
    return (nodes[0] if len(nodes) == 1 else ('or', nodes)), pos


def _parse_and(tokens, pos):
    nodes = []
    node, pos = _parse_operation(tokens, pos)
    nodes.append(node)
    while tokens[pos][0] == '&&':
        node, pos = _parse_operation(tokens, pos + 1)
        nodes.append(node)
    return (nodes[0] if len(nodes) == 1 else ('and', nodes)), pos


def _parse_operation(tokens, pos):
    negated = False
    while tokens[pos][0] == '!':
        negated = not negated
        pos += 1
    kind, value = tokens[pos]
    if kind == 'has':
        node, pos = ('has', value), pos + 1
    elif kind in ('all', 'global'):
        node, pos = ('all',), pos + 1
    elif kind == 'label':
        node, pos = _parse_comparison(tokens, pos)
    elif kind == '(':
        node, pos = _parse_or(tokens, pos + 1)
        if tokens[pos][0] != ')':
            raise SelectorError("expected ')' but found %s" % _describe(tokens[pos]))
        pos += 1
    else:
        raise SelectorError('unexpected %s' % _describe(tokens[pos]))
    return (('not', node) if negated else node), pos


def _parse_comparison(tokens, pos):
    label = tokens[pos][1]
    op = tokens[pos + 1][0]
    if op in _VALUE_OPS:
        if tokens[pos + 2][0] != 'string':
            raise SelectorError('expected a quoted string after %s %s, found %s'
                                % (label, op, _describe(tokens[pos + 2])))
        return (_VALUE_OPS[op], label, tokens[pos + 2][1]), pos + 3
    if op in ('in', 'not in'):
        if tokens[pos + 2][0] != '{':
            raise SelectorError('expected a set literal {"a", "b"} after %s %s' % (label, op))
        pos, values = pos + 3, []
        while tokens[pos][0] == 'string':
            values.append(tokens[pos][1])
            pos += 1
            if tokens[pos][0] != ',':
                break
            pos += 1
        if tokens[pos][0] != '}':
            raise SelectorError("expected '}' in the set after %s %s, found %s" % (label, op, _describe(tokens[pos])))
        return ('in' if op == 'in' else 'notin', label, frozenset(values)), pos + 1
    raise SelectorError('expected == or != after label %r, found %s' % (label, _describe(tokens[pos + 1])))


def evaluate(node, labels):
    """Whether a pod with LABELS (a dict of strings) is selected by NODE."""
    kind = node[0]
    if kind == 'all':
        return True
    if kind == 'has':
        return node[1] in labels
    if kind == 'not':
        return not evaluate(node[1], labels)
    if kind == 'and':
        return all(evaluate(n, labels) for n in node[1])
    if kind == 'or':
        return any(evaluate(n, labels) for n in node[1])
    label, value = node[1], node[2]
    present = label in labels
    got = labels.get(label)
    if kind == 'ne':
        return not present or got != value
    if kind == 'notin':
        return not present or got not in value
    if not present:
        return False
    return {'eq': lambda: got == value, 'in': lambda: got in value, 'contains': lambda: value in got,
            'starts': lambda: got.startswith(value), 'ends': lambda: got.endswith(value)}[kind]()


def _quoted(value):
    quote = "'" if '"' in value else '"'
    return quote + value + quote


_OP_TEXT = {'eq': ' == ', 'ne': ' != ', 'contains': ' contains ', 'starts': ' starts with ', 'ends': ' ends with '}


def canonical(node):
    """The selector as Calico's Selector.String() writes it (parser/ast.go collectFragments)."""
    kind = node[0]
    if kind == 'all':
        return 'all()'
    if kind == 'has':
        return 'has(%s)' % node[1]
    if kind == 'not':
        return '!' + canonical(node[1])
    if kind in ('and', 'or'):
        return '(' + (' && ' if kind == 'and' else ' || ').join(canonical(n) for n in node[1]) + ')'
    if kind in ('in', 'notin'):
        return '%s %s {%s}' % (node[1], 'in' if kind == 'in' else 'not in',
                               ', '.join(_quoted(v) for v in sorted(node[2])))
    return node[1] + _OP_TEXT[kind] + _quoted(node[2])


def unique_id(node):
    """hash.MakeUniqueID("s", canonical): 's:' and the URL-safe base64 SHA-224 of 's:<canonical>'."""
    digest = hashlib.sha224(('s:' + canonical(node)).encode('utf-8')).digest()
    return 's:' + base64.urlsafe_b64encode(digest).decode('ascii').rstrip('=')


def ipset_name(node, family=4):
    """Felix's IP set of the pods NODE selects: ``cali40s:...`` (``cali60s:`` for IPv6: one selector, one id,
    a set per family), at most 31 characters."""
    return (ipset_prefix(family) + unique_id(node))[:IPSET_NAME_MAX]


def selects(text, labels):
    """Shorthand: does selector TEXT select LABELS."""
    return evaluate(parse(text), labels)
