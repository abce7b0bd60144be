"""The paper at full scale as a plan of stages: ``s2s reproduce PLAN.yaml`` (see ``configs/paper.yaml``).

``plan`` (read and check a plan, build each stage's ``s2s`` arguments), ``stage`` (``s2s run-stage``: resume
when safe, record what ran), ``estimate`` (disk and compute for ``--dry-run``), ``commands`` (the CLI).
"""
