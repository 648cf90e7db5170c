"""Reads shared by views, reports, exports and template tags (DESIGN.md, rule 3).

One function per question, each with a constant number of queries whatever the data size.
Selectors read: they call models, `ecrf.access` and the pure core, never views or forms.
"""
