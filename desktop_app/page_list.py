"""The main window's pages: (module, class) names imported with importlib, so a page module
that does not exist yet is skipped and a broken one is reported without taking the window down."""

from __future__ import annotations

import importlib

from desktop_app.pages.base import Page

PAGES: list[tuple[str, str]] = [
    ("desktop_app.pages.data", "DataPage"),
    ("desktop_app.pages.train", "TrainPage"),
    ("desktop_app.pages.evaluate", "EvaluatePage"),
    ("desktop_app.pages.domains", "DomainsPage"),
    ("desktop_app.pages.advisor", "AdvisorPage"),
    ("desktop_app.pages.robustness", "RobustnessPage"),
    ("desktop_app.pages.export", "ExportPage"),
    ("desktop_app.pages.predict", "PredictPage"),
    ("desktop_app.pages.cluster", "ClusterPage"),
    ("desktop_app.pages.generate", "GeneratePage"),
    ("desktop_app.pages.runs", "RunsPage"),
]


def load_page_classes(specs: list[tuple[str, str]]) -> tuple[list[type[Page]], list[str]]:
    """Import each page class; a missing module is skipped quietly, any other failure is reported."""
    classes: list[type[Page]] = []
    problems: list[str] = []
    for module_name, class_name in specs:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                problems.append(f"{module_name}: {err}")
            continue
        except Exception as err:
            problems.append(f"{module_name}: {type(err).__name__}: {err}")
            continue
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, Page):
            classes.append(cls)
        else:
            problems.append(f"{module_name}: no Page class named {class_name}")
    return classes, problems
