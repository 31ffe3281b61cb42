"""A job's contact sheets, in one place: `names.py` (which pages, their files, their words), `drawing.py` (the
canvas), `pages.py` (`Sheets`: what the runner calls at the start, per result and at the end), `records.py`
(what drew each page, so a resume keeps those that would come out the same), `manifest.py` (what a job
leaves for rebuilding its grids) and `rebuild.py` (`adain grid`: the grids drawn again from the files).

Nothing is imported here, so `sheets.names` and `sheets.drawing` stay torch-free for planning."""
