"""The nine banned internet-finance advertising categories (taxonomy.md).

Ids and slugs are stable: the index, the exports and every report use them.
``wording`` is the official Shanghai wording (沪府办〔2016〕46号, advertising sub-plan
四(一)2); ``wording_ningxia`` the Ningxia variant (advertising sub-plan 二(四)), which differs
in substance only for category 8.
"""

from __future__ import annotations

from dataclasses import dataclass

_NATIONAL = "工商办字〔2016〕61号"
_SHANGHAI = "沪府办〔2016〕46号 附件8 四(一)2"
_ORDINALS = "一二三四五六七八九"


@dataclass(frozen=True)
class Category:
    id: int
    slug: str
    name_zh: str
    wording: str
    legal_basis: str
    wording_ningxia: str = ""


def _basis(cat_id: int) -> str:
    return f"{_NATIONAL}；{_SHANGHAI} 第{_ORDINALS[cat_id - 1]}类"


_ROWS: list[tuple[int, str, str, str, str]] = [
    (
        1,
        "no_risk_warning",
        "未提示风险",
        "违反《广告法》相关规定，对金融产品或服务未合理提示或警示可能存在的风险以及风险责任承担的",
        "违反广告法相关规定，对金融产品或服务未合理提示或警示可能存在的风险以及承担风险责任的",
    ),
    (
        2,
        "guaranteed_return",
        "保本保收益",
        "对未来效果、收益或与其相关的情况作出保证性承诺，明示或暗示保本、无风险或保收益的",
        "对未来效果、收益或者与其相关情况作出保证性承诺，明示或者暗示保本、无风险或者保收益的",
    ),
    (
        3,
        "exaggerated_performance",
        "夸大过往业绩",
        "夸大或片面宣传金融服务或金融产品，在未提供客观证据的情况下，对过往业绩作虚假或夸大的表述的",
        "夸大或者片面宣传金融服务或者金融产品，在未提供客观证据的情况下，对过往业绩作虚假或夸大表述的",
    ),
    (
        4,
        "endorsement",
        "名义推荐证明",
        "利用学术机构、行业协会、专业人士、受益者的名义或形象作推荐、证明的",
        "利用学术机构、行业协会、专业人士、受益者的名义或者形象作推荐、证明的",
    ),
    (
        5,
        "false_yield_safety",
        "虚假宣传收益安全",
        "对投资理财类产品的收益、安全性等情况进行虚假宣传，欺骗和误导消费者的",
        "对投资理财类产品的收益、安全性等情况进行虚假宣传，欺骗和误导消费者的",
    ),
    (
        6,
        "unlicensed_deposit_lending",
        "无证吸存放贷",
        "未经有关部门许可，以投资理财、投资咨询、贷款中介、信用担保、典当等名义发布的吸收存款、"
        "信用贷款内容的广告，或与许可内容不相符的",
        "未经有关部门许可，以投资理财、投资咨询、贷款中介、信用担保、典当等名义发布的吸收存款、"
        "信用贷款内容的广告或与许可内容不相符的",
    ),
    (
        7,
        "inaccurate_data",
        "不实数据资料",
        "引用不真实、不准确的数据和资料的",
        "引用不真实、不准确数据和资料的",
    ),
    (
        8,
        "banned_activity",
        "宣传违法金融活动",
        "宣传国家有关金融、证券、保险法律、法规和行业主管部门明令禁止的违法活动内容的",
        "宣传国家有关法律法规和行业主管部门明令禁止的违法活动内容的",
    ),
    (
        9,
        "housing_leverage",
        "加大购房杠杆",
        "宣传提供突破住房信贷政策的金融产品，加大购房杠杆的",
        "宣传提供突破住房信贷政策的金融产品，加大购房杠杆的",
    ),
]

CATEGORIES: dict[int, Category] = {
    cid: Category(
        id=cid,
        slug=slug_,
        name_zh=name,
        wording=wording,
        legal_basis=_basis(cid),
        wording_ningxia=ningxia,
    )
    for cid, slug_, name, wording, ningxia in _ROWS
}

_BY_SLUG: dict[str, int] = {c.slug: c.id for c in CATEGORIES.values()}


def slug(cat_id: int) -> str:
    """The stable slug of category ``cat_id`` (1–9); KeyError for an unknown id."""
    try:
        return CATEGORIES[int(cat_id)].slug
    except KeyError:
        raise KeyError(f"unknown category id {cat_id!r} (expected 1–9)") from None


def by_slug(name: str) -> Category:
    """The category whose slug is ``name``; KeyError for an unknown slug."""
    try:
        return CATEGORIES[_BY_SLUG[name]]
    except KeyError:
        raise KeyError(f"unknown category slug {name!r}") from None
