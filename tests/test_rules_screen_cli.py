"""`jinjian rules check` and `jinjian screen companies` from the command line."""

from __future__ import annotations


def test_rules_check_passes_on_the_shipped_rules(cli):
    result = cli("rules", "check")
    assert result.returncode == 0, result.stderr
    assert "no problems" in result.stderr


def test_screen_companies_flags_finance_names_and_exempts_licensed_banks(tmp_path, cli):
    src = tmp_path / "c.csv"
    src.write_text("name,scope,city\n上海鑫盛财富投资管理有限公司,投资管理,上海\n"
                   "中国工商银行股份有限公司,吸收公众存款,北京\n杭州好味餐饮有限公司,餐饮服务,杭州\n",
                   encoding="utf-8-sig")
    out = tmp_path / "out.csv"
    result = cli("screen", "companies", "--in", str(src), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = out.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("name,scope,city,matched_keywords,tier,list,region")
    flagged = {r.split(",")[0]: r for r in rows[1:]}
    assert "投资管理" in flagged["上海鑫盛财富投资管理有限公司"]
    assert ",上海," in flagged["上海鑫盛财富投资管理有限公司"], "extra columns pass through"
    assert flagged["杭州好味餐饮有限公司"].count(",,") >= 1


def test_screen_companies_bad_input_is_one_message(tmp_path, cli):
    src = tmp_path / "bad.csv"
    src.write_text("company,city\n某公司,上海\n", encoding="utf-8")
    result = cli("screen", "companies", "--in", str(src))
    assert result.returncode == 2
    assert "bad.csv" in result.stderr and "Traceback" not in result.stderr
