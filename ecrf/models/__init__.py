"""The eCRF data model, one module per CRF domain."""

from .access import Role, StudyAssignment
from .adverse_event import (
    SERIOUSNESS_CRITERIA,
    ActionTaken,
    AdverseEvent,
    AdverseEventAgent,
    AdverseEventGrade,
    Outcome,
)
from .audit import APPEND_ONLY, AuditEvent, AuditTrailIsAppendOnly
from .base import AuditedModel, ClinicalRecord, DeletionRefused
from .ctcae import CtcaeTermDescription
from .dosing import DoseAdministration, DoseChangeReason
from .jobs import ACTIVE_STATUSES, JobStatus, ReportJob, ReportKind
from .lab import LabResult, LabTest, ReferenceRange
from .oversight import (
    DataLock,
    DataQuery,
    DataQueryMessage,
    LockScope,
    QueryMessageKind,
    QueryOrigin,
    QueryState,
    SourceVerification,
)
from .review import (
    COUNTING_STATUSES,
    DltAssessment,
    DltDecision,
    DltReviewQueue,
    DltRuleSet,
    DltStatus,
    LabToxicityAssessment,
    LabToxicityDecision,
    Signature,
)
from .study import (
    Agent,
    AgentSchedule,
    Attribution,
    DesignMethod,
    DoseLevel,
    DoseLevelDose,
    ScheduledVisit,
    Site,
    Study,
)
from .subject import Sex, Subject, SubjectStatus, TreatmentEnd
from .two_factor import TwoFactorEnrolmentToken
from .visit import Visit, VisitKind, VisitStatus

__all__ = [
    "ACTIVE_STATUSES",
    "JobStatus",
    "ReportJob",
    "ReportKind",
    "DataLock",
    "DataQuery",
    "DataQueryMessage",
    "LockScope",
    "QueryMessageKind",
    "QueryOrigin",
    "QueryState",
    "SourceVerification",
    "DltReviewQueue",
    "DltRuleSet",
    "Signature",
    "DltStatus",
    "DltDecision",
    "DltAssessment",
    "LabToxicityAssessment",
    "LabToxicityDecision",
    "COUNTING_STATUSES",
    "APPEND_ONLY",
    "SERIOUSNESS_CRITERIA",
    "ActionTaken",
    "AdverseEvent",
    "AdverseEventAgent",
    "AdverseEventGrade",
    "Agent",
    "AgentSchedule",
    "Attribution",
    "AuditEvent",
    "AuditTrailIsAppendOnly",
    "AuditedModel",
    "ClinicalRecord",
    "CtcaeTermDescription",
    "DeletionRefused",
    "DesignMethod",
    "DoseAdministration",
    "DoseChangeReason",
    "DoseLevel",
    "DoseLevelDose",
    "LabResult",
    "LabTest",
    "Outcome",
    "ReferenceRange",
    "Role",
    "ScheduledVisit",
    "Sex",
    "Site",
    "Study",
    "StudyAssignment",
    "Subject",
    "SubjectStatus",
    "TreatmentEnd",
    "TwoFactorEnrolmentToken",
    "Visit",
    "VisitKind",
    "VisitStatus",
]
