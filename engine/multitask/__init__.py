"""Multitask learning: tasks share the early layers of one network and branch into a head each.

The first kind of transfer in the seeds where source and target are both labelled. Data comes as
one labelled folder per task (`--task NAME=FOLDER`) or one labels table (CSV: a path column, one
column per task, an empty cell = no label); see data.py. The model (model.py) shares a backbone
up to a branch point; the `multitask` method (engine/methods/multitask.py) weights the task
losses (equal, uncertainty, PCGrad; losses.py). Import-light: torch is imported by submodules.
"""
