"""The reports the CLI prints and the app can show: each one as JSON-ready data (``--json``) and
as text for people, built beside the figures they format.

    text.py              the aligned table, escaped records and the excluded-samples note they share
    inspect.py           ``inspect`` of a dataset: class table and dataset figures
    check.py             ``check``: corrupt files, duplicate copies, per-class image statistics
    simulate.py          ``simulate``: sampled against expected shares, and the fit
    annotation_files.py  ``inspect`` and ``simulate`` of a COCO or ``path,labels`` file
    verify.py            what ``verify`` found the same in a weights file and a dataset

Every name, path and reason in a report is escaped as ``ls -b`` does (``core.names``), so that
the JSON is valid UTF-8 whatever bytes the names hold. Nothing here imports Qt; numpy and torch
load only when a report that needs them is built.
"""
