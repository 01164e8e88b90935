"""The targets file is validated before anything is crawled: one message, the line, exit 2."""

from __future__ import annotations

import textwrap

import pytest

from jinjian.targets import TargetsError, load_targets


def write(tmp_path, text):
    path = tmp_path / "targets.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_file_with_defaults(tmp_path):
    path = write(tmp_path, """\
        targets:
          - url: https://www.example.com/
            kind: portal
            region: shanghai
            render: always
            max_pages: 10
            max_depth: 1
          - url: https://p2p.example.cn/
            kind: p2p
        """)
    parsed = load_targets(path)
    assert not parsed.allow_private_addresses
    first, second = parsed.targets
    assert (first.kind, first.region, first.render, first.max_pages, first.max_depth) == (
        "portal", "shanghai", "always", 10, 1)
    assert (second.render, second.max_pages, second.max_depth) == ("auto", 200, 3)


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("targets:\n  - url: https://a.cn/\n    kind: portl\n", 3, "unknown kind 'portl'"),
        ("targets:\n  - kind: portal\n", 2, "no `url`"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    render: sometimes\n", 4,
         "render must be one of never, auto, always"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    max_pages: -3\n", 4,
         "max_pages must be a whole number"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    max_depth: deep\n", 4,
         "max_depth must be a whole number"),
        ("targets:\n  - url: ftp://a.cn/\n    kind: portal\n", 2, "http(s) URL"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    colour: red\n", 4,
         "unknown key 'colour'"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    region: mars\n", 4,
         "unknown region 'mars'"),
        ("targets:\n  - url: http://127.0.0.1:8000/\n    kind: portal\n", 2,
         "private or loopback"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n  - url: https://a.cn/\n"
         "    kind: p2p\n", 4, "listed twice"),
        ("allow_private_addresses: maybe\ntargets:\n  - url: https://a.cn/\n    kind: portal\n",
         1, "true or false"),
        ("targets: [\n", 2, "not valid YAML"),
    ],
)
def test_bad_values_name_the_line(tmp_path, body, line, needle):
    path = write(tmp_path, body)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message


def test_loopback_allowed_when_the_file_says_so(tmp_path):
    path = write(tmp_path, """\
        allow_private_addresses: true
        targets:
          - url: http://127.0.0.1:8000/
            kind: portal
        """)
    assert load_targets(path).targets[0].url == "http://127.0.0.1:8000/"


def test_crawl_refuses_a_bad_file_and_crawls_nothing(tmp_path, cli):
    path = write(tmp_path, "targets:\n  - url: https://a.cn/\n    kind: portal\n"
                           "  - url: https://b.cn/\n    kind: bank\n")
    store = tmp_path / "store"
    result = cli("crawl", "--targets", str(path), "--store", str(store))
    assert result.returncode == 2
    assert f"{path}:5: unknown kind 'bank'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not store.exists(), "nothing may be written for a rejected targets file"


def test_crawl_names_a_missing_file(tmp_path, cli):
    result = cli("crawl", "--targets", str(tmp_path / "nope.yaml"), "--store", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "nope.yaml: no such file" in result.stderr


def test_robots_can_be_ignored_only_with_a_stated_reason(tmp_path):
    path = write(tmp_path, """\
        targets:
          - url: https://a.cn/
            kind: portal
          - url: https://b.cn/
            kind: p2p
            robots: ignore
            robots_reason: "warrant 2026-17:   product pages hidden by robots.txt"
        """)
    first, second = load_targets(path).targets
    assert (first.robots, first.robots_reason) == ("obey", "")
    assert (second.robots, second.robots_reason) == (
        "ignore", "warrant 2026-17: product pages hidden by robots.txt")


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    robots: ignore\n", 4,
         "robots: ignore needs a `robots_reason:`"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    robots: ignore\n"
         "    robots_reason: '  '\n", 5, "robots_reason must be a non-empty text"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    robots: sometimes\n", 4,
         "robots must be obey or ignore"),
        ("targets:\n  - url: https://a.cn/\n    kind: portal\n    robots_reason: because\n", 4,
         "robots_reason is only for `robots: ignore`"),
    ],
)
def test_bad_robots_policies_name_the_line(tmp_path, body, line, needle):
    path = write(tmp_path, body)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert str(info.value).startswith(f"{path}:{line}:") and needle in str(info.value)


def test_crawl_refuses_robots_ignore_without_a_reason(tmp_path, cli):
    path = write(tmp_path, "targets:\n  - url: https://a.cn/\n    kind: portal\n    robots: ignore\n")
    result = cli("crawl", "--targets", str(path), "--store", str(tmp_path / "store"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:4: robots: ignore needs a `robots_reason:`" in result.stderr
