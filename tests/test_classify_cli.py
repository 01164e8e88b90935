"""`jinjian classify`: JSON lines in and out; bad lines reported by number, the rest classified."""

from __future__ import annotations

import json


def test_stdin_to_stdout_with_bad_lines(cli):
    lines = [
        json.dumps({"id": "a", "text": "首付不够？首付贷帮你轻松凑齐，零首付买新房"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "b"}),
        "",
        json.dumps({"id": "c", "text": "今天天气晴，适合出门散步。"}, ensure_ascii=False),
        json.dumps(["a list"]),
    ]
    result = cli("classify", "--in", "-", "--out", "-", input="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "<stdin>:2: not valid JSON" in result.stderr
    assert '<stdin>:3: no "text" string' in result.stderr
    assert '<stdin>:6: no "text" string' in result.stderr
    assert "Traceback" not in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "c"]
    a, c = out
    assert 9 in a["categories"]
    assert a["scores"]["9"] > 0.5
    assert any(e["source"].startswith("rule:") and "首付贷" in e["text"] for e in a["evidence"])
    assert c["categories"] == [] and c["evidence"] == []


def test_files_in_and_out(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    dst = tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "100%本息保障，稳赚不赔"}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    result = cli("classify", "--in", str(src), "--out", str(dst))
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert row["id"] == 1 and 2 in row["categories"]


def test_unreadable_input_is_one_message(tmp_path, cli):
    result = cli("classify", "--in", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert "missing.jsonl: cannot read" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "gbk.jsonl"
    bad.write_bytes('{"id": 1, "text": "保本"}'.encode("gbk"))
    result = cli("classify", "--in", str(bad))
    assert result.returncode == 2 and "not UTF-8" in result.stderr
