"""The Train page's attribute-table editor, driven as a user: choose zero-shot, start from the
demo digits' table, add an unseen class and an attribute, tick, save as CSV; the method's form
then names the saved file and the engine reads it back."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_app.pages.train import TrainPage
from engine.data.attributes import load_attribute_table


def make_page(qtbot, state, engine_info) -> TrainPage:
    page = TrainPage(state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page.resize(1300, 860)
    page.show()
    page.engine_ready(engine_info)
    return page


def test_edit_and_save_an_attribute_table(qtbot, demo_state, engine_info, tmp_path, error_calls):
    page = make_page(qtbot, demo_state, engine_info)
    page.set_method("finetune")
    assert page.settings_panel.attribute_editor is None  # only methods with an attribute table show it
    page.set_method("zero_shot")
    editor = page.settings_panel.attribute_editor
    assert editor is not None
    qtbot.waitUntil(editor.isVisible, timeout=5000)

    qtbot.mouseClick(editor.demo_button, Qt.MouseButton.LeftButton)
    assert editor.classes() == [str(d) for d in range(10)]
    assert "10 classes" in editor.status.text()

    qtbot.keyClicks(editor.class_name, "star")
    qtbot.mouseClick(editor.add_class_button, Qt.MouseButton.LeftButton)
    assert editor.classes()[-1] == "star" and editor.class_name.text() == ""
    qtbot.keyClicks(editor.attribute_name, "points")
    qtbot.mouseClick(editor.add_attribute_button, Qt.MouseButton.LeftButton)
    assert editor.attributes()[-1] == "points"
    # tick the new class's attributes as a user clicks the check boxes
    row = editor.classes().index("star")
    for attribute in ("points", "diagonal", "strokes"):
        col = 1 + editor.attributes().index(attribute)
        item = editor.grid.item(row, col)
        if editor.binary[col - 1]:
            item.setCheckState(Qt.CheckState.Checked)
        else:
            item.setText("5")
    assert "11 classes" in editor.status.text()

    # two classes with the same row: the editor names them before anything is trained
    qtbot.keyClicks(editor.class_name, "twin")
    qtbot.mouseClick(editor.add_class_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(editor.class_name, "twin2")
    qtbot.mouseClick(editor.add_class_button, Qt.MouseButton.LeftButton)
    assert "twin, twin2" in editor.status.text() and "cannot tell them apart" in editor.status.text()
    editor.grid.selectRow(editor.classes().index("twin2"))
    qtbot.mouseClick(editor.remove_class_button, Qt.MouseButton.LeftButton)
    assert "twin2" not in editor.classes()

    # a non-numeric cell in a real-valued column is refused, naming the class
    editor.grid.item(row, 1 + editor.attributes().index("stroke_ends")).setText("many")
    assert "star" in editor.status.text() and "'many' is not a number" in editor.status.text()
    editor.grid.item(row, 1 + editor.attributes().index("stroke_ends")).setText("4")

    out = tmp_path / "my_table.csv"
    editor.path = str(out)  # as if chosen in the Save dialog
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert out.is_file() and "Saved 12 classes" in editor.status.text()
    assert str(page.settings_panel.method_form.values()["attributes"]) == str(out)  # the run will use it
    table = load_attribute_table(out)
    star = dict(zip(table.attributes, table.row("star"), strict=True))
    assert star["points"] == 1 and star["diagonal"] == 1 and star["strokes"] == 5 and star["stroke_ends"] == 4
    assert star["loop"] == 0 and table.row("twin") == [0.0] * len(table.attributes)
    assert str(page.settings_panel.build_config().method_options["attributes"]) == str(out)

    # typing another file's path into the form shows that file in the grid
    other = tmp_path / "other.csv"
    other.write_text("class,wings\nbird,1\nfish,0\n")
    page.settings_panel.method_form.editor("attributes").setText(str(other))
    qtbot.waitUntil(lambda: editor.classes() == ["bird", "fish"], timeout=5000)
    assert error_calls == []


def test_evaluate_page_shows_seen_unseen_and_h(qtbot, app_state):
    from desktop_app.pages.evaluate import EvaluatePage
    from engine.analysis.zero_shot_eval import GzslFigures, ZeroShotScores
    from engine.jobs.evaluate import EvaluateReport

    page = EvaluatePage(app_state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page.show()
    base = {"run_dir": "r", "data": "d", "checkpoint": "best.pt", "n": 4, "accuracy": 0.5, "classes": ["a", "b"]}
    base |= {"per_class": [], "confusion_matrix": [[1, 1], [1, 1]], "misclassified": [], "skipped": []}
    page.show_report(EvaluateReport(**base))
    assert not page.zero_shot_label.isVisible()  # an ordinary run
    zs = ZeroShotScores(
        seen_classes=["a"],
        unseen_classes=["b"],
        calibration=0.3,
        calibrated=GzslFigures(seen_acc=0.9, unseen_acc=0.4, h=0.5538),
        uncalibrated=GzslFigures(seen_acc=0.97, unseen_acc=0.1, h=0.1813),
        zsl_unseen_acc=0.6,
    )
    page.show_report(EvaluateReport(**base, zero_shot=zs))
    qtbot.waitUntil(page.zero_shot_label.isVisible, timeout=5000)
    text = page.zero_shot_label.text()
    assert "unseen: b" in text and "H 55.4" in text and "without calibration" in text
