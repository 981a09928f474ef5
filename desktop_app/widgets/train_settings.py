"""The Train page's settings panel: folders, method (+ its own form), backbone and weights, training.

Method list and forms come from the engine's registry and config classes, so a new method shows
up without code here; the common TrainConfig fields use the same generated forms. The registry
needs torch, so `engine_ready()` fills the lists once it has loaded. Choices persist in QSettings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QScrollArea, QToolButton, QVBoxLayout, QWidget

from desktop_app.state import AppState
from desktop_app.widgets.attribute_editor import AttributeTableEditor
from desktop_app.widgets.backbone_picker import BackbonePicker
from desktop_app.widgets.config_form import ConfigForm
from desktop_app.widgets.form_utils import discard, label, tipped
from desktop_app.widgets.task_picker import TaskPicker
from engine.core.config import TrainConfig

BASIC_FIELDS = ["epochs", "batch_size", "lr", "augment", "device"]
EXCLUDED = {
    "source", "target", "target_test", "method", "method_options", "runs_dir", "name", "backbone", "weights",
    "tasks", "labels",
}  # fmt: skip
ADVANCED_FIELDS = [f for f in TrainConfig.model_fields if f not in EXCLUDED and f not in BASIC_FIELDS]
LABELS = {
    "select": "Keep best by",
    "amp": "Mixed precision (AMP)",
    "image_size": "Image size (px)",
    "workers": "Augmentation workers",
    "threads": "CPU threads",
    "cache_memory_mb": "Image memory (MB)",
    "early_stop_patience": "Early stop after",
    "synthetic": "Synthetic images (GAN samples)",
    "synthetic_ratio": "Synthetic per real image",
}
_KIND_ORDER = {"fine-tuning": 0, "domain adaptation": 1, "robustness": 2}
UNUSED_TARGET = (
    "A target folder is set, and this method does not use it: to adapt the model to the target, choose a "
    "domain-adaptation method. On the shift zoo (README, Domain adaptation) Self-ensembling gained the most on "
    "average, and MCC is the cheaper runner-up."
)
# Version 1 of the saved settings could not say "default" for an optional number: its EMA decay
# of 0.0 was the form's fault, not the user's choice, so it is dropped once when read.
SETTINGS_VERSION = 2
_UNCHOSEN_IN_V1 = ("ema_decay",)


def json_setting(value: Any) -> dict[str, Any]:
    """A dict saved as JSON text in QSettings ({} when absent or unreadable)."""
    try:
        out = json.loads(str(value)) if value else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


class TrainSettings(QScrollArea):
    """Everything a run is configured with; `changed` fires when validity may have changed."""

    changed = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.ready = False
        self.method_form: ConfigForm | None = None
        self.attribute_editor: AttributeTableEditor | None = None  # for methods with an attribute table
        self.methods: dict[str, Any] = {}
        self.shown_method = ""  # the method whose default backbone the picker may be showing
        self.folders_label = label(tip="The folders chosen on the Data page.")
        self.folders_label.setTextFormat(Qt.TextFormat.RichText)
        data_box = QGroupBox("Data")
        QVBoxLayout(data_box).addWidget(self.folders_label)
        self.task_picker = TaskPicker()
        self.task_picker.changed.connect(self._on_tasks_changed)

        self.method_combo = tipped(QComboBox(), "Transfer method from the engine's registry.")
        self.method_combo.addItem("loading PyTorch…")
        self.method_combo.setEnabled(False)
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.method_summary = label()
        self.target_hint = label(UNUSED_TARGET)
        self.target_hint.setStyleSheet("color: #a05a00;")
        self.target_hint.setVisible(False)
        self.method_box = QGroupBox("Method")
        self.method_layout = QVBoxLayout(self.method_box)
        self.method_layout.addWidget(self.method_combo)
        self.method_layout.addWidget(self.method_summary)
        self.method_layout.addWidget(self.target_hint)
        self.backbone_hint = label()
        self.backbone_hint.setStyleSheet("color: #a05a00;")
        self.backbone_hint.setVisible(False)
        self.backbone_hint.linkActivated.connect(self._use_advised_backbone)
        self.method_layout.addWidget(self.backbone_hint)

        self.backbone = BackbonePicker()
        self.backbone.changed.connect(self.changed)
        self.backbone.changed.connect(self._show_backbone_hint)
        model_box = QGroupBox("Model")
        QVBoxLayout(model_box).addWidget(self.backbone)

        base = {"source": "."}
        self.basic_form = ConfigForm(TrainConfig, fields=BASIC_FIELDS, base_values=base, labels=LABELS)
        self.advanced_form = ConfigForm(TrainConfig, fields=ADVANCED_FIELDS, base_values=base, labels=LABELS)
        self.advanced_form.setVisible(False)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setToolTip("Optimizer, schedule, validation split, checkpoint selection, seed and more.")
        self.advanced_toggle.toggled.connect(self._on_advanced_toggled)
        for form in (self.basic_form, self.advanced_form):
            form.valid_changed.connect(self.changed)
        training_box = QGroupBox("Training")
        col = QVBoxLayout(training_box)
        col.addWidget(self.basic_form)
        col.addWidget(self.advanced_toggle)
        col.addWidget(self.advanced_form)
        self.editable = [self.task_picker, self.method_box, model_box, training_box]

        inner = QWidget()
        scol = QVBoxLayout(inner)
        for box in (data_box, self.task_picker, self.method_box, model_box, training_box):
            scol.addWidget(box)
        scol.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(inner)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        state.folders_changed.connect(self._on_folders_changed)
        self._on_folders_changed()

    # ------------------------------------------------------------------ engine loaded
    def engine_ready(self) -> None:
        """Fill the method and backbone lists from the engine's registries and restore the last choices."""
        self.ready = True
        self.reload_methods()
        self.backbone.populate()
        s = self.state.settings
        default = self.methods[self.method()].default_backbone if self.method() in self.methods else "small_cnn"
        self.backbone.set_choice(str(s.value("train/backbone", default)), str(s.value("train/weights", "auto")))
        old = str(s.value("train/settings_version", "1")) != str(SETTINGS_VERSION)
        for form, key in ((self.basic_form, "train/basic"), (self.advanced_form, "train/advanced")):
            saved = json_setting(s.value(key, ""))
            if old:
                saved = {k: v for k, v in saved.items() if k not in _UNCHOSEN_IN_V1}
            form.set_values(saved)
        self.changed.emit()

    def reload_methods(self) -> None:
        """(Re)read the method registry; a newly registered method appears with its settings form."""
        from engine.methods import list_methods

        methods = sorted(list_methods(), key=lambda m: (_KIND_ORDER.get(m.kind, 9), m.name))
        self.methods = {m.name: m for m in methods}
        wanted = self.method_combo.currentData() or str(self.state.settings.value("train/method", "finetune"))
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for m in methods:
            self.method_combo.addItem(m.label or m.name, m.name)
            self.method_combo.setItemData(
                self.method_combo.count() - 1, f"{m.kind}: {m.summary}", Qt.ItemDataRole.ToolTipRole
            )
        self.method_combo.setEnabled(True)
        self.method_combo.blockSignals(False)
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(wanted)))
        self._on_method_changed(self.method_combo.currentIndex())

    # ------------------------------------------------------------------ API
    def method(self) -> str:
        return self.method_combo.currentData() or ""

    def set_method(self, name: str) -> None:
        i = self.method_combo.findData(name)
        if i >= 0:
            self.method_combo.setCurrentIndex(i)

    def problem(self) -> str:
        """Why these settings cannot start a run now ('' when they can)."""
        if not self.ready:
            return "PyTorch is still loading…"
        multitask = self.task_picker.active
        if multitask:
            problem = self.task_picker.problem()
            if problem:
                return problem
        elif self.method() == "multitask":
            return "Multitask: tick 'Train several tasks' and add task folders or a labels table."
        elif not self.state.source:
            return "Choose a source folder on the Data page."
        forms = [self.basic_form, self.advanced_form] + ([self.method_form] if self.method_form else [])
        if not all(f.is_valid() for f in forms):
            return "Fix the settings marked in red."
        if not self.backbone.is_valid():
            return "The weights cannot be used: see the message under Weights."
        return ""

    def build_config(self) -> TrainConfig:
        """The TrainConfig of the settings shown (UserError naming the bad field)."""
        from engine.core.config import validate
        from engine.methods.base import method_config

        s = self.state
        tasks = self.task_picker.values()
        data: dict[str, Any] = {
            "source": None if tasks else s.source,
            "target": None if tasks else s.target or None,
            "target_test": None if tasks else s.target_test or None,
            **tasks,
            "method": self.method(),
            "method_options": self.method_form.values() if self.method_form else {},
            "backbone": self.backbone.backbone(),
            "weights": self.backbone.weights(),
            "runs_dir": str(s.runs_dir),
            **self.basic_form.values(),
            **self.advanced_form.values(),
        }
        config = validate(TrainConfig, data, "training settings")
        method_config(config.method, config.method_options)
        return config

    def show_config(self, config: TrainConfig) -> None:
        """Show a run's settings (resuming it)."""
        self.task_picker.show_values(dict(config.tasks), str(config.labels) if config.labels else None)
        self.set_method(config.method)
        if self.method_form is not None:
            self.method_form.set_values(config.method_options)
        self.backbone.set_choice(config.backbone, config.weights)
        values = config.model_dump()
        self.basic_form.set_values(values)
        self.advanced_form.set_values(values)

    def save(self) -> None:
        """Remember the choices for the next start of the app."""
        s = self.state.settings
        s.setValue("train/method", self.method())
        s.setValue("train/backbone", self.backbone.backbone())
        s.setValue("train/weights", self.backbone.weights())
        s.setValue("train/basic", json.dumps(self.basic_form.values(), default=str))
        s.setValue("train/advanced", json.dumps(self.advanced_form.values(), default=str))
        s.setValue("train/settings_version", SETTINGS_VERSION)
        if self.method_form is not None:
            s.setValue(f"train/method_options/{self.method()}", json.dumps(self.method_form.values(), default=str))

    def set_editable(self, editable: bool) -> None:
        for box in self.editable:
            box.setEnabled(editable)

    # ------------------------------------------------------------------ slots
    def _on_folders_changed(self) -> None:
        s = self.state
        rows = [
            ("Source", s.source or "<i>not chosen</i>"),
            ("Target", s.target or "<i>none (fine-tuning only)</i>"),
            ("Target test", s.target_test or "<i>none</i>"),
        ]
        self.folders_label.setText("<br>".join(f"<b>{k}</b>: {v}" for k, v in rows))
        self._show_target_hint()
        self.changed.emit()

    def _show_target_hint(self) -> None:
        """Warn when a target folder is chosen but the method trains on the source alone."""
        cls = self.methods.get(self.method())
        unused = cls is not None and not cls.uses_target and not cls.target_optional
        self.target_hint.setVisible(bool(self.state.target) and unused and not self.task_picker.active)

    def _advised_backbone(self) -> tuple[str, str] | None:
        """(better backbone, why) when the method advises against the chosen backbone."""
        cls = self.methods.get(self.method())
        return cls.backbone_advice.get(self.backbone.backbone()) if cls is not None else None

    def _show_backbone_hint(self) -> None:
        advice = self._advised_backbone()
        if advice is not None:
            better, why = advice
            self.backbone_hint.setText(f"{why} <a href='{better}'>Use {better}</a>")
        self.backbone_hint.setVisible(advice is not None)

    def _follow_default_backbone(self, cls: Any) -> None:
        """Show the new method's default backbone where the picker showed the previous method's
        (self-ensembling's is small_cnn_gap, the others' small_cnn); a backbone chosen by hand stays."""
        previous = self.methods.get(self.shown_method)
        self.shown_method = cls.name
        if previous is not None and self.backbone.backbone() == previous.default_backbone != cls.default_backbone:
            self.backbone.set_choice(cls.default_backbone, self.backbone.weights())

    def _use_advised_backbone(self, name: str) -> None:
        self.backbone.set_choice(name, "auto")

    def _on_tasks_changed(self) -> None:
        """Training several tasks is the multitask method's job: choose it when the box is ticked."""
        if self.task_picker.active and self.method() != "multitask" and self.methods:
            self.set_method("multitask")
        self.changed.emit()

    def _on_method_changed(self, _: int) -> None:
        cls = self.methods.get(self.method())
        if cls is None:
            return
        self.method_summary.setText(f"<i>{cls.kind}</i>: {cls.summary}")
        self.method_summary.setToolTip(cls.summary)
        self._show_target_hint()
        self._follow_default_backbone(cls)
        self._show_backbone_hint()
        if self.method_form is not None:
            discard(self.method_form, self.method_layout)
        self.method_form = ConfigForm(cls.Config, labels=LABELS)
        self.method_form.set_values(json_setting(self.state.settings.value(f"train/method_options/{cls.name}", "")))
        self.method_form.valid_changed.connect(self.changed)
        self.method_layout.addWidget(self.method_form)
        self._show_attribute_editor("attributes" in cls.Config.model_fields)
        self.changed.emit()

    def _show_attribute_editor(self, wanted: bool) -> None:
        """Zero-shot methods take a class-attribute table: edit it in a grid under their form."""
        if self.attribute_editor is not None:
            discard(self.attribute_editor, self.method_layout)
            self.attribute_editor = None
        if not wanted or self.method_form is None:
            return
        editor = AttributeTableEditor()
        form = self.method_form
        editor.saved.connect(lambda path: form.set_values({"attributes": path}))
        form.values_changed.connect(lambda: self._follow_attributes_field(editor, form))
        self.method_layout.addWidget(editor)
        self.attribute_editor = editor
        self._follow_attributes_field(editor, form)

    @staticmethod
    def _follow_attributes_field(editor: AttributeTableEditor, form: ConfigForm) -> None:
        """Show the table the form names (typed or browsed) unless the grid already shows it."""
        path = form.values().get("attributes")
        if path and str(path) != editor.path and Path(str(path)).is_file():
            editor.load(str(path))

    def _on_advanced_toggled(self, shown: bool) -> None:
        self.advanced_form.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
