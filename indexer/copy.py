"""Move a whole store between backends: documents, versions, hits, review status, audit, sites,
and the nightly job's runs, tips and re-checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from indexer.base import Rejected, Store, StoreError

T = TypeVar("T")


@dataclass
class CopyReport:
    documents: int = 0
    hits: int = 0
    sites: int = 0
    audit: int = 0
    records: int = 0  # runs, tips and re-checks
    rejected: list[Rejected] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"documents": self.documents, "hits": self.hits, "sites": self.sites,
                "audit": self.audit, "records": self.records, "rejected": [r.__dict__ for r in self.rejected]}


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def copy_store(source: Store, target: Store, *, batch: int = 500,
               progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy everything in ``source`` into ``target``, which must be empty.

    Afterwards the counts are compared; a difference raises ``StoreError``.
    """
    if target.count_documents() or target.count_hits():
        raise StoreError(f"{target.describe()}: holds {target.count_documents()} documents "
                         "already; `index copy` needs an empty store")
    report = CopyReport()
    sites = source.site_records()
    result = target.import_records(sites=sites)
    report.sites = result.written
    report.rejected += result.rejected
    for docs in _batches(source.export_documents(), batch):
        result = target.import_records(documents=docs)
        report.documents += result.written
        report.rejected += result.rejected
        if progress:
            progress("documents", report.documents)
    for hits in _batches(source.export_hits(), batch):
        result = target.import_records(hits=hits)
        report.hits += result.written
        report.rejected += result.rejected
        report.audit += sum(len(h.audit) for h in hits)
        if progress:
            progress("hits", report.hits)
    for record in source.export_records():
        target.put_record(record)
        report.records += 1
    if report.rejected:
        raise StoreError(f"{target.describe()}: {len(report.rejected)} records refused, first: "
                         f"{report.rejected[0].doc_id}: {report.rejected[0].reason}")
    want = (source.count_documents(), source.count_hits())
    got = (target.count_documents(), target.count_hits())
    if want != got:
        raise StoreError(f"copy incomplete: {want[0]} documents and {want[1]} hits in the "
                         f"source, {got[0]} and {got[1]} in the target")
    return report
