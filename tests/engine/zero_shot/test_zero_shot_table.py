"""Attribute tables: reading, the bad inputs of issue 14 as clear errors or warnings, writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.data.attributes import check_covers, load_attribute_table, parse_attribute_table

SHIPPED = Path(__file__).resolve().parents[3] / "resources" / "attributes" / "demo_digits.csv"

GOOD = "class,loop,bar,ends\ncat,1,0,2\ndog,0,1,3\nemu,1,1,0.5\n"


def test_a_good_table_reads_as_numbers_in_order():
    t = parse_attribute_table(GOOD)
    assert t.classes == ["cat", "dog", "emu"] and t.attributes == ["loop", "bar", "ends"]
    assert t.values[2] == [1.0, 1.0, 0.5] and not t.binary and t.notes == []
    scaled = t.scaled()  # ends 2, 3, 0.5 -> (v - 0.5) / 2.5
    assert scaled[0][2] == pytest.approx(0.6) and scaled[1][2] == 1.0 and scaled[2][2] == 0.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("class,loop\ncat,1\ndog,yes\n", ["line 3", "dog", "loop", "'yes'"]),
        ("class,loop\ncat,1\ndog,\n", ["dog", "empty cell"]),
        ("class,loop\ncat,1\ndog,nan\n", ["dog", "finite"]),
        ("class,loop,loop\ncat,1,0\ndog,0,1\n", ["named more than once", "loop"]),
        ("class,loop\ncat,1\ncat,0\n", ["line 3", "'cat' is listed twice"]),
        ("class,loop,bar\ncat,1,0\ndog,0\n", ["line 3", "dog", "1 values for 2 attributes"]),
        ("class\ncat\n", ["no attribute columns"]),
        ("class,loop\n", ["at least one class row"]),
        ("class,loop\n,1\ndog,0\n", ["line 2", "class name is empty"]),
        ("class,loop,bar\ncat,1,1\ndog,1,1\n", ["no attribute tells two classes apart"]),
    ],
)
def test_bad_tables_are_refused_naming_where(text, named):
    with pytest.raises(UserError) as err:
        parse_attribute_table(text, "t.csv")
    for part in named:
        assert part in str(err.value)


def test_constant_and_duplicate_attributes_are_dropped_with_a_note():
    t = parse_attribute_table("class,loop,always,loop2,bar\ncat,1,1,1,0\ndog,0,1,0,0\nemu,0,1,0,1\n")
    assert t.attributes == ["loop", "bar"]
    assert any("'always'" in n and "same value" in n for n in t.notes)
    assert any("'loop2' duplicates attribute 'loop'" in n for n in t.notes)


def test_classes_with_identical_rows_are_named():
    t = parse_attribute_table("class,loop,bar\ncat,1,0\ndog,1,0\nemu,0,1\n")
    assert t.identical_rows() == [["cat", "dog"]]
    assert any("cat, dog" in n and "cannot tell them apart" in n for n in t.notes)


def test_a_table_missing_a_folder_class_is_refused(tmp_path):
    t = parse_attribute_table(GOOD, "t.csv")
    assert check_covers(t, ["cat", "dog"], "src") == ["emu"]
    with pytest.raises(UserError, match="no row for the classes fox, owl of the images in src"):
        check_covers(t, ["cat", "fox", "owl"], "src")


def test_files_round_trip_and_file_errors_name_the_file(tmp_path):
    t = parse_attribute_table(GOOD)
    path = tmp_path / "a.csv"
    t.save(path)
    back = load_attribute_table(path)
    assert (back.classes, back.attributes, back.values) == (t.classes, t.attributes, t.values)
    assert path.read_text().splitlines()[1] == "cat,1,0,2"
    with pytest.raises(UserError, match="no such file"):
        load_attribute_table(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="UTF-8"):
        load_attribute_table(tmp_path / "bin.csv")


def test_the_shipped_demo_table_tells_every_digit_apart():
    t = load_attribute_table(SHIPPED)
    assert t.classes == [str(d) for d in range(10)]
    assert t.notes == [] and t.identical_rows() == []
    assert {"loop", "strokes", "mirror_symmetric"} <= set(t.attributes)


def test_the_zero_shot_split_holds_unseen_classes_out_of_training(tmp_path):
    from engine.data.zero_shot_demo import main

    src = tmp_path / "src"
    for c in ("a", "b", "c", "d"):
        (src / c).mkdir(parents=True)
        for i in range(10):
            (src / c / f"{i}.png").write_bytes(b"x")
    assert main([str(src), str(tmp_path / "out"), "d", "--test-share", "0.3"]) == 0
    seen, test = tmp_path / "out" / "seen", tmp_path / "out" / "test"
    assert sorted(p.name for p in seen.iterdir()) == ["a", "b", "c"]
    assert len(list((test / "d").iterdir())) == 10 and len(list((test / "a").iterdir())) == 3
    train_a = {p.name for p in (seen / "a").iterdir()}
    assert len(train_a) == 7 and not train_a & {p.name for p in (test / "a").iterdir()}
    assert main([str(src), str(tmp_path / "o2"), "zz"]) == 2
