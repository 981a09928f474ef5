"""The method advisor: measure the shift, train candidate methods, rank them without target labels.

- scores.py: the label-free scores (source validation accuracy, DEV, SND, target entropy);
- ranking.py: their combination into one ranking, and the recommendation;
- halving.py: the successive-halving schedule that fits the candidates into a time budget;
- shift.py: how large the shift is (proxy A-distance, class balance, image statistics);
- candidates.py: the candidate grid (methods × their most sensitive setting) and scoring a run;
- advice.py: the advice's state file, so a stopped advice resumes where it stopped.

The advise job (engine.jobs.advise) drives them; every candidate is a normal training run.
"""
