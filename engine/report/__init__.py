"""The report card: one self-contained HTML file that says what a run's model is worth on clean,
shifted and attacked data and after export. Every figure in it comes from the engine's jobs
(check, embed, evaluate, attack, export, explain); this package only adds calibration and the
page itself (collect.py gathers, figures.py draws, page.py writes the HTML)."""
