"""Layer tokens and their canonical strings.

A layer sequence is written as tokens joined by ``-``, e.g. ``Conv-BN-PL-DropL-FCL-AL`` (seed 000's
BaseSeq). A token may carry one argument after a colon (``PL:avg``, ``AL:tanh``, ``Conv:64``,
``DropL:0.5``, ``UpSamp:2``, ``FCL:128``), and a group may be repeated: ``(Conv-PL-UpSamp)x3-FCL-AL``
expands to nine tokens before ``FCL``. The decoded form is a flat list of token strings; the
canonical string of a list is its tokens joined by ``-``.
"""

from __future__ import annotations

from collections.abc import Sequence

from searchspace._errors import SpaceError, valid_list

# name -> what its optional argument means (None: takes no argument).
LAYER_TOKENS: dict[str, str | None] = {
    "Conv": "output channels (int)",
    "BN": None,
    "PL": "pool kind: max|avg",
    "DropL": "drop probability in [0, 1)",
    "FCL": "hidden units (int); the last FCL of a sequence is the classifier",
    "AL": "activation: relu|leaky_relu|sigmoid|tanh|gelu",
    "UpSamp": "scale factor (int >= 2)",
}
POOL_KINDS = ("max", "avg")
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu")
EMPTY = "none"  # canonical string of an empty sequence


def parse_token(token: str) -> tuple[str, str | None]:
    """Split ``'PL:avg'`` into ``('PL', 'avg')`` and check both parts."""
    name, _, arg = token.strip().partition(":")
    if name not in LAYER_TOKENS:
        raise SpaceError(f"unknown layer token {token!r}; valid tokens: {valid_list(LAYER_TOKENS)}")
    if not arg:
        return name, None
    if LAYER_TOKENS[name] is None:
        raise SpaceError(f"layer token {name!r} takes no argument, got {token!r}")
    _check_arg(name, arg, token)
    return name, arg


def _check_arg(name: str, arg: str, token: str) -> None:
    if name == "PL" and arg not in POOL_KINDS:
        raise SpaceError(f"bad pool kind in {token!r}; valid: {valid_list(POOL_KINDS)}")
    if name == "AL" and arg not in ACTIVATIONS:
        raise SpaceError(f"bad activation in {token!r}; valid: {valid_list(ACTIVATIONS)}")
    if name in ("Conv", "FCL", "UpSamp"):
        low = 2 if name == "UpSamp" else 1
        if not arg.isdigit() or int(arg) < low:
            raise SpaceError(f"bad argument in {token!r}: {LAYER_TOKENS[name]}")
    if name == "DropL":
        try:
            p = float(arg)
        except ValueError:
            p = -1.0
        if not 0.0 <= p < 1.0:
            raise SpaceError(f"bad argument in {token!r}: {LAYER_TOKENS[name]}")


def parse_layers(spec: str | Sequence[str]) -> list[str]:
    """Decode a layer string (or list of tokens) into a flat, validated token list."""
    if not isinstance(spec, str):
        tokens = [str(t) for t in spec]
        for t in tokens:
            parse_token(t)
        return tokens
    text = spec.replace(" ", "")
    if text in ("", EMPTY):
        return []
    tokens, rest = _parse_seq(text, 0, spec)
    if rest != len(text):
        raise SpaceError(f"cannot parse layer string {spec!r} at position {rest}")
    return tokens


def _parse_seq(text: str, i: int, spec: str) -> tuple[list[str], int]:
    out: list[str] = []
    while i < len(text):
        if text[i] == "(":
            inner, i = _parse_seq(text, i + 1, spec)
            if i >= len(text) or text[i] != ")":
                raise SpaceError(f"unbalanced '(' in layer string {spec!r}")
            i += 1
            j = i
            if j < len(text) and text[j] in "x*":
                j += 1
                k = j
                while k < len(text) and text[k].isdigit():
                    k += 1
                if k == j or int(text[j:k]) < 1:
                    raise SpaceError(f"a group needs a repeat count like (Conv-PL)x3 in {spec!r}")
                out.extend(inner * int(text[j:k]))
                i = k
            else:
                out.extend(inner)
        elif text[i] == ")":
            return out, i
        else:
            j = i
            while j < len(text) and text[j] not in "-()":
                j += 1
            token = text[i:j]
            if not token:
                raise SpaceError(f"empty token in layer string {spec!r}")
            parse_token(token)
            out.append(token)
            i = j
        if i < len(text) and text[i] == "-":
            i += 1
            if i == len(text) or text[i] == ")":
                raise SpaceError(f"layer string {spec!r} has a trailing '-'")
    return out, i


def format_layers(tokens: Sequence[str]) -> str:
    """Canonical string of a token list: ``['BN', 'Conv']`` -> ``'BN-Conv'``; empty -> ``'none'``."""
    return "-".join(tokens) if tokens else EMPTY
