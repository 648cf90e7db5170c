"""Template tags of the eCRF pages."""
