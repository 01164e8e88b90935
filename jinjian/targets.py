"""The targets file: parsed and validated with line numbers before anything is crawled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from crawlers.urls import is_private_host
from jinjian.config import REGIONS, RENDER_POLICIES, TARGET_KINDS


class TargetsError(Exception):
    """One user-facing message: ``file:line: what is wrong``."""


@dataclass(frozen=True)
class Target:
    url: str
    kind: str
    region: str = ""
    render: str = "auto"
    max_pages: int = 200
    max_depth: int = 3
    robots: str = "obey"  # obey | ignore (ignore only with robots_reason)
    robots_reason: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TargetsFile:
    targets: list[Target]
    allow_private_addresses: bool = False


TOP_KEYS = {"allow_private_addresses", "targets"}
TARGET_KEYS = {"url", "kind", "region", "render", "max_pages", "max_depth", "robots",
               "robots_reason"}
ROBOTS_POLICIES = ("obey", "ignore")


def _scalar(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def load_targets(path: str | Path) -> TargetsFile:
    """Parse and validate a targets file; raise TargetsError naming the file and line."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetsError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"{name}: cannot read ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TargetsError(f"{name}{where}: not valid YAML ({problem})") from None

    def fail(node: yaml.Node | None, message: str) -> TargetsError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return TargetsError(f"{name}{line}: {message}")

    if not isinstance(root, yaml.MappingNode):
        raise fail(root, "expected a mapping with a `targets:` list")
    top = {k.value: (k, v) for k, v in root.value}
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            raise fail(knode, f"unknown key {key!r} (expected one of {', '.join(sorted(TOP_KEYS))})")
    allow = False
    if "allow_private_addresses" in top:
        knode, vnode = top["allow_private_addresses"]
        allow = _scalar(vnode)
        if not isinstance(allow, bool):
            raise fail(vnode, f"allow_private_addresses must be true or false, not {vnode.value!r}")
    if "targets" not in top:
        raise fail(root, "missing `targets:` list")
    tnode = top["targets"][1]
    if not isinstance(tnode, yaml.SequenceNode) or not tnode.value:
        raise fail(tnode, "`targets` must be a non-empty list")

    targets: list[Target] = []
    seen: dict[str, int] = {}
    for item in tnode.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise fail(item, "each target must be a mapping with at least `url` and `kind`")
        fields = {k.value: (k, v) for k, v in item.value}
        for key, (knode, _) in fields.items():
            if key not in TARGET_KEYS:
                raise fail(
                    knode,
                    f"unknown key {key!r} in target (expected one of {', '.join(sorted(TARGET_KEYS))})",
                )
        if "url" not in fields:
            raise fail(item, "target has no `url`")
        unode = fields["url"][1]
        url = _scalar(unode)
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(unode, f"url must be an http(s) URL with a host, not {unode.value!r}")
        if not allow and is_private_host(parts.hostname):
            raise fail(
                unode,
                f"url {url!r} is a private or loopback address; "
                "set `allow_private_addresses: true` only for webs served locally",
            )
        if url in seen:
            raise fail(unode, f"url {url!r} is listed twice (first on line {seen[url]})")
        seen[url] = unode.start_mark.line + 1
        if "kind" not in fields:
            raise fail(item, "target has no `kind`")
        knode = fields["kind"][1]
        kind = _scalar(knode)
        if kind not in TARGET_KINDS:
            raise fail(knode, f"unknown kind {knode.value!r} (expected one of {', '.join(TARGET_KINDS)})")
        values: dict[str, Any] = {"url": url, "kind": kind, "line": line}
        if "region" in fields:
            rnode = fields["region"][1]
            region = _scalar(rnode)
            if region not in REGIONS:
                raise fail(rnode, f"unknown region {rnode.value!r} (expected one of {', '.join(REGIONS)})")
            values["region"] = region
        if "render" in fields:
            rnode = fields["render"][1]
            render = _scalar(rnode)
            if render not in RENDER_POLICIES:
                raise fail(
                    rnode, f"render must be one of {', '.join(RENDER_POLICIES)}, not {rnode.value!r}"
                )
            values["render"] = render
        for key, low, high in (("max_pages", 1, 1_000_000), ("max_depth", 0, 100)):
            if key in fields:
                vnode = fields[key][1]
                value = _scalar(vnode)
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise fail(vnode, f"{key} must be a whole number from {low} to {high}, not {vnode.value!r}")
                values[key] = value
        values.update(_robots_policy(fields, fail))
        targets.append(Target(**values))
    return TargetsFile(targets=targets, allow_private_addresses=allow)


def _robots_policy(fields: dict[str, tuple[yaml.Node, yaml.Node]],
                   fail: Callable[[yaml.Node | None, str], TargetsError]) -> dict[str, str]:
    """``robots: ignore`` is allowed only with a stated ``robots_reason`` (kept for the report)."""
    policy = "obey"
    if "robots" in fields:
        pnode = fields["robots"][1]
        policy = _scalar(pnode)
        if policy not in ROBOTS_POLICIES:
            raise fail(pnode, f"robots must be obey or ignore, not {pnode.value!r}")
    reason = ""
    if "robots_reason" in fields:
        rnode = fields["robots_reason"][1]
        value = _scalar(rnode)
        if not isinstance(value, str) or not value.strip():
            raise fail(rnode, "robots_reason must be a non-empty text")
        reason = " ".join(value.split())
    if policy == "ignore" and not reason:
        raise fail(fields["robots"][0], "robots: ignore needs a `robots_reason:` saying why "
                   "this site's robots.txt is not obeyed")
    if reason and policy != "ignore":
        raise fail(fields["robots_reason"][0], "robots_reason is only for `robots: ignore`")
    return {"robots": policy, "robots_reason": reason}


def dump_targets(targets: list[Target], *, allow_private_addresses: bool) -> str:
    """The YAML text of a targets file (used by `jinjian demo`)."""
    data = {
        "allow_private_addresses": allow_private_addresses,
        "targets": [{k: v for k, v in t.to_dict().items()
                     if k != "line" and v != "" and not (k == "robots" and v == "obey")}
                    for t in targets],
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
