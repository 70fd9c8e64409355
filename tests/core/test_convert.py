"""The one conversion settings and results.json's records share (roundtable.core.convert)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from roundtable.core.convert import ConversionError, as_written, build, convert


@dataclass(frozen=True)
class Point:
    step: int = 0
    loss: float | None = None
    raw: dict = as_written()


@dataclass(frozen=True)
class Curve:
    name: str = ""
    points: tuple[Point, ...] = ()
    span: tuple[float | None, float | None] | None = None
    tags: list[str] = field(default_factory=list)
    means: dict[str, float | None] = field(default_factory=dict)
    raw: dict = as_written()


def test_a_nested_dataclass_with_optional_tuple_list_and_dict_fields_is_built_from_json():
    d = {"name": "lstm", "points": [{"step": 0, "loss": 2.5}, {"step": 4.0, "extra": 1}],
         "span": [1, None], "tags": ["a", "b"], "means": {"x": 1, "y": None}, "later": True}
    c = build(Curve, d)
    assert c.points == (Point(0, 2.5), Point(4, None))
    assert type(c.points[1].step) is int  # 4.0 is the integer 4
    assert c.points[1].raw == {"step": 4.0, "extra": 1}  # a key no field names is kept as written
    assert c.span == (1.0, None) and c.tags == ["a", "b"] and c.means == {"x": 1.0, "y": None}
    assert c.raw["later"] is True
    # a missing or null key takes the field's default; a non-finite number is None, so the default too
    assert build(Curve, {"span": None, "points": [{"loss": float("nan")}]}) == Curve(points=(Point(),))


@pytest.mark.parametrize("d, message", [
    ({"points": [{"step": 0}, {"step": "3"}]}, "points[1].step: expected an integer, got str \"3\""),
    ({"points": [{"step": 1.5}]}, "points[0].step: expected an integer, got float 1.5"),
    ({"span": [1, 2, 3]}, "span: expected a list of 2, got list [1, 2, 3]"),
    ({"tags": "a,b"}, "tags: expected a list, got str \"a,b\""),
    ({"means": {"x": True}}, "means.x: expected a number, got bool true"),
    ({"points": [7]}, "points[0]: expected an object, got int 7"),
])
def test_strictly_a_value_of_the_wrong_json_type_is_an_error_that_says_where(d, message):
    with pytest.raises(ConversionError) as e:
        build(Curve, d)
    assert str(e.value) == message


def test_loosely_text_from_a_flag_becomes_the_fields_type():
    assert convert("3", int, loose=True) == 3 and convert(3.0, int, loose=True) == 3
    assert convert("0.5", float | None, loose=True) == 0.5 and convert(None, int | None, loose=True) is None
    assert convert("yes", bool, loose=True) is True and convert("off", bool, loose=True) is False
    assert convert(" a, b ,,", list[str], loose=True) == ["a", "b"]
    assert convert("1,0.5", list[float], loose=True) == [1.0, 0.5]
    assert convert(7, str, loose=True) == "7"
    assert convert("inf", float, loose=True) == float("inf")  # a setting's infinity is kept, not None
    for value, kind in [("3.5", int), (2.5, int), (True, int), ("maybe", bool), (None, int), (True, str),
                        ({"a": 1}, list[str]), (["1", "x"], list[int])]:
        with pytest.raises(ConversionError):
            convert(value, kind, "--x", loose=True)
    # strictly, the same text is refused
    with pytest.raises(ConversionError, match="expected an integer"):
        convert("3", int)


def test_a_type_it_does_not_know_is_a_programming_error_not_a_users():
    with pytest.raises(TypeError):
        convert(1, int | str)
    with pytest.raises(TypeError):
        convert(1, set[int])
