"""Scrapy contracts for the spiders' callbacks (``scrapy check``).

A contract needs a page to fetch. A site's address written into a docstring would be a real
site, fetched by whoever runs the check, and the page could change under it. So the pages are
the hazard web's instead, and the site comes from the spider's own argument, the same one
``scrapy crawl KIND -a url=…`` takes::

    python -m tests.hazard_web /tmp/targets.yaml     # prints its three ports
    scrapy check -a url=http://127.0.0.1:PORT0/ -s JINJIAN_ALLOW_PRIVATE_ADDRESSES=1 \\
        -s JINJIAN_STORE=/tmp/check-store

- ``@site PATH``: the sample request is PATH on the spider's first target, with the meta the
  spider's own requests carry (the target, depth 0; for an ad frame, the target's page as the
  page that showed it).
- ``@filled page|ad FIELD …``: the callback yields at least one page (or ad-unit) item, and each
  of them has a non-empty value for every FIELD; ``a.b`` reads key ``b`` of field ``a``
  (``fields.product.repayment``). Scrapy's ``@scrapes`` only asks whether a field exists, and a
  dataclass item has every field, so it could never fail here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from scrapy.contracts import Contract
from scrapy.exceptions import ContractFail

from crawlers.items import AdUnitItem, PageItem


class SiteContract(Contract):
    """``@site PATH``: fetch PATH on the spider's first target (``-a url=``)."""

    name = "site"

    def adjust_request_args(self, args: dict[str, Any]) -> dict[str, Any]:
        spider = args["callback"].__self__
        if not self.args or not self.args[0]:
            raise ValueError(f"@site of {spider.name}: give the path to fetch")
        home = spider.targets[0].url
        url = urljoin(home, self.args[0])
        args["url"] = url
        args["meta"] = {"target": 0, "page_depth": 0, "journal_url": url, "page_url": home,
                        "position": "contract"}
        return args


_KINDS: dict[str, type] = {"page": PageItem, "ad": AdUnitItem}


def _value(item: Any, path: str) -> Any:
    value: Any = item
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


class FilledContract(Contract):
    """``@filled page|ad FIELD …``: every such item has every FIELD filled in."""

    name = "filled"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if not self.args or self.args[0] not in _KINDS:
            raise ValueError(f"@filled: the first word is page or ad, not {self.args[:1]}")
        self.kind, self.fields = self.args[0], self.args[1:]

    def post_process(self, output: list[Any]) -> None:
        items = [x for x in output if isinstance(x, _KINDS[self.kind])]
        if not items:
            raise ContractFail(f"no {self.kind} item")
        for item in items:
            empty = [f for f in self.fields if _value(item, f) in (None, "", [], {})]
            if empty:
                where = getattr(item, "url", "") or getattr(item, "page_url", "")
                raise ContractFail(f"{self.kind} item of {where}: empty {', '.join(empty)}")
