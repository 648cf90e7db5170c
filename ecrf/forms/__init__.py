"""Forms: they validate and normalise input; the views hand cleaned data to the services."""

from .base import RecordForm, SoftWarning
from .dlt import DltDecisionForm, LabToxicityRuleOutForm

__all__ = ["DltDecisionForm", "LabToxicityRuleOutForm", "RecordForm", "SoftWarning"]
