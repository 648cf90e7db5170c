"""Pages of the eCRF: thin functions that look up through `ecrf.access` and render."""
