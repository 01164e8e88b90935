"""Validate the rule data: every rule file, the shared lexicons and the normalisation table.

``check_rules()`` returns one message per problem, each ``path:line: what is wrong`` (the
same messages the loader raises in a ``RuleError``); an empty list means all is well.
``jinjian rules check`` prints them and exits 2 when there is any; ``python -m rules.check
[PATH …]`` does the same without the CLI.

What is checked:

* rule files — YAML files with a top-level ``category:`` (the nine categories) or
  ``rule_set:`` (screening rule sets), and every YAML file under ``categories/`` or
  ``screening/``: unknown keys, missing fields (id, description, patterns, legal basis for a
  screening rule), bad regexes, full-width characters in patterns, unknown ``@lexicons``,
  values out of range, rule ids duplicated within a file or across files;
* ``lexicons.yaml`` — unknown keys, bad patterns, the lexicons the engine needs, thresholds;
* ``normalize.yaml`` — the homophone table: bad patterns, patterns that match nothing at all;
* region profiles (``regions/*.yaml``) — only the ``thresholds`` the engine reads from them.

Other YAML files (lists, region keyword tables) belong to other checks and are skipped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from rules.engine import (
    DATA_DIR,
    _Errors,
    _kline,
    _Lexicons,
    _vline,
    check_pattern,
    parse_lexicon_file,
    parse_rule_file,
    parse_thresholds,
    read_yaml_located,
    unique_rules,
)

_RULE_DIRS = ("categories", "screening")


def check_rules(paths: Iterable[str | Path] | None = None) -> list[str]:
    """Validate rule data under ``paths`` (files or directories; default: ``rules/data``)."""
    errors: list[str] = []
    targets = [DATA_DIR] if paths is None else [Path(p) for p in paths]
    files: list[Path] = []
    for t in targets:
        if t.is_dir():
            files.extend(sorted(p for p in t.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif t.is_file():
            files.append(t)
        else:
            errors.append(f"{t}: no such file or directory")
    lex_cache: dict[Path, _Lexicons] = {}
    checked_lex: set[Path] = set()
    seen: dict[str, tuple[Path, int]] = {}

    def lexicons_for(f: Path) -> _Lexicons:
        lex_path = _lexicon_file_for(f)
        if lex_path not in lex_cache:
            errs: list[str] = []
            lex_cache[lex_path] = parse_lexicon_file(lex_path, errs)
            if lex_path not in checked_lex:
                checked_lex.add(lex_path)
                errors.extend(errs)
        return lex_cache[lex_path]

    for f in files:
        mark = len(errors)
        _check_file(f, targets, errors, lex_cache, checked_lex, seen, lexicons_for)
        errors[mark:] = sorted(errors[mark:], key=_line_key)
    return errors


def _line_key(message: str) -> int:
    m = re.match(r".*?:(\d+): ", message)
    return int(m.group(1)) if m else 0


def _check_file(
    f: Path,
    targets: list[Path],
    errors: list[str],
    lex_cache: dict[Path, _Lexicons],
    checked_lex: set[Path],
    seen: dict[str, tuple[Path, int]],
    lexicons_for: Callable[[Path], _Lexicons],
) -> None:
    if f.name in ("lexicons.yaml", "lexicons.yml"):
        if f.resolve() not in checked_lex:
            checked_lex.add(f.resolve())
            errs: list[str] = []
            lex_cache[f.resolve()] = parse_lexicon_file(f, errs)
            errors.extend(errs)
        return
    if f.name in ("normalize.yaml", "normalize.yml"):
        errors.extend(check_normalize_table(f))
        return
    in_rule_dir = f.parent.name in _RULE_DIRS
    doc, yerrs = read_yaml_located(f)
    is_rule_file = isinstance(doc, dict) and ("category" in doc or "rule_set" in doc)
    if yerrs:
        if in_rule_dir or f.parent.name == "regions" or is_rule_file or f in targets:
            errors.extend(yerrs)
        return
    if is_rule_file or in_rule_dir:
        if doc is None:
            errors.append(f"{f}:1: empty rule file")
            return
        parsed = parse_rule_file(f, doc, lexicons_for(f), errors)
        if parsed is not None:
            unique_rules(f, parsed.rules, seen, errors)
        return
    if f.parent.name == "regions" and isinstance(doc, dict) and "thresholds" in doc:
        parse_thresholds(doc["thresholds"], _Errors(f, errors), _vline(doc, "thresholds"),
                         known_only=True)


def _lexicon_file_for(f: Path) -> Path:
    """The lexicons.yaml that a rule file's ``@names`` refer to: the nearest one in the
    directories above it, else the package's."""
    for d in f.resolve().parents:
        cand = d / "lexicons.yaml"
        if cand.is_file():
            return cand.resolve()
        if d == d.parent:
            break
    return (DATA_DIR / "lexicons.yaml").resolve()


def check_normalize_table(path: Path) -> list[str]:
    """Problems of the homophone table (``normalize.yaml``)."""
    errors: list[str] = []
    err = _Errors(path, errors)
    doc, yerrs = read_yaml_located(path)
    if yerrs:
        return yerrs
    if not isinstance(doc, dict):
        err.add(1, "expected a mapping at the top level")
        return errors
    for k in doc:
        if k != "homophones":
            err.add(_kline(doc, k), f"unknown key {k!r} (known: homophones)")
    table = doc.get("homophones")
    if not isinstance(table, dict):
        err.add(_vline(doc, "homophones"), "'homophones' must be a mapping of text → patterns")
        return errors
    for target, pats in table.items():
        tline = _kline(table, target)
        if not isinstance(target, str) or not target:
            err.add(tline, f"a replacement must be a non-empty text, got {target!r}")
            continue
        if isinstance(pats, str):
            pats = [pats]
        if not isinstance(pats, list) or not pats:
            err.add(_vline(table, target), f"homophones[{target!r}]: expected a non-empty list of patterns")
            continue
        lines = getattr(pats, "item_lines", [_vline(table, target)] * len(pats))
        for p, pl in zip(pats, lines, strict=True):
            if not isinstance(p, str) or not p:
                err.add(pl, f"homophones[{target!r}]: expected a pattern (a string), got {p!r}")
                continue
            problem = check_pattern(p)
            if problem:
                err.add(pl, f"homophones[{target!r}]: {problem}")
                continue
            if re.fullmatch(p, "", re.IGNORECASE) is not None:
                err.add(pl, f"homophones[{target!r}]: pattern {p!r} matches the empty text")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Print every problem; exit status 2 when there is any, else 0."""
    args = sys.argv[1:] if argv is None else argv
    errors = check_rules(args or None)
    for e in errors:
        print(e)
    if errors:
        return 2
    print("rules: no problems found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
