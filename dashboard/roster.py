"""The grid people of a place (网格员 / 微网格员): a generated roster, deterministic from the
registry's codes — one grid worker per grid, one micro-grid worker per micro-grid (the usual
staffing: a full-time 专职网格员 per grid, a part-time 微网格员, often a building or unit leader,
per 50–100 households). Fake but plausible Chinese names; no real personal data, no phone numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓"
    "曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏云飞慧珍燕宁海波晨婷雪琳志宏"
)
ROLES = {
    "grid": ("专职网格员", "grid worker"),
    "micro_grid": ("微网格员", "micro-grid worker"),
}


@dataclass(frozen=True)
class GridPerson:
    code: str  # the grid or micro-grid the person serves
    level: str  # grid | micro_grid
    name: str

    @property
    def role(self) -> tuple[str, str]:
        return ROLES[self.level]


def person_name(code: str, level: str) -> str:
    """A name drawn from the code: the same code, the same name, on every run."""
    digest = hashlib.blake2b(f"{level}:{code}".encode(), digest_size=8).digest()
    surname = SURNAMES[digest[0] % len(SURNAMES)]
    given = GIVEN[digest[1] % len(GIVEN)]
    if digest[2] % 3:  # two thirds have a two-character given name
        given += GIVEN[digest[3] % len(GIVEN)]
    return surname + given


def level_of(code: str) -> str | None:
    """grid (community code + 2 digits: 14) or micro_grid (grid + 2: 16), CONTRACT §2."""
    return {14: "grid", 16: "micro_grid"}.get(len(code)) if code.isdigit() else None


def roster(grid: str, micro_grid: str = "") -> list[GridPerson]:
    """The people of a report's place: the grid's worker, then the micro-grid's (if any)."""
    people = []
    for code, level in ((grid, "grid"), (micro_grid, "micro_grid")):
        if code and level_of(code) == level:
            people.append(GridPerson(code, level, person_name(code, level)))
    return people
