"""The spiders' Scrapy contracts (``scrapy check``, crawlers/contracts.py): real ``scrapy check``
subprocesses from the repository root against the hazard web on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from crawlers.spiders.kinds import SPIDERS, P2PSpider
from tests.conftest import REPO
from tests.hazard_web import HazardWeb


class BrokenP2PSpider(P2PSpider):
    """A regression the contracts must catch: the product page's terms are no longer read."""

    def structured(self, root: Any, url: str) -> dict[str, Any]:
        fields = super().structured(root, url)
        fields.pop("product", None)
        return fields


@pytest.fixture(scope="module")
def web():
    with HazardWeb(2) as web:
        yield web


def scrapy_check(web: HazardWeb, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("JINJIAN_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "check", "-v", *args,
         "-a", f"url={web.url(0)}", "-s", "JINJIAN_ALLOW_PRIVATE_ADDRESSES=1",
         "-s", f"JINJIAN_STORE={tmp_path / 'store'}", "-s", "DOWNLOAD_DELAY=0",
         "-s", "AUTOTHROTTLE_ENABLED=0"],
        capture_output=True, text=True, cwd=REPO, timeout=120, env=env)


def test_every_spider_keeps_its_contracts(web, tmp_path):
    result = scrapy_check(web, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert out.rstrip().endswith("OK")
    for kind in SPIDERS:
        assert f"[{kind}] parse_page (@filled post-hook) ... ok" in out
        assert f"[{kind}] parse_frame (@filled post-hook) ... ok" in out
    assert web.served("/kinds/") >= 3 and web.served("/slot/ad.html") >= len(SPIDERS)


def test_a_broken_parse_fails_the_check(web, tmp_path):
    result = scrapy_check(web, tmp_path, "p2p", "-s", "SPIDER_MODULES=tests.test_contracts")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    assert "FAIL: [p2p] parse_page (@filled post-hook)" in out
    assert "empty fields.product.name, fields.product.repayment" in out
    assert "FAILED (failures=1)" in out


def test_a_check_without_the_site_says_what_is_missing():
    result = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "check", "portal"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert "spider portal: give targets=[...] or -a url=URL" in result.stderr
