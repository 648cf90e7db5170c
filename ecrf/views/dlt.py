"""The investigator's DLT dashboard and the signed decision on one event."""

import copy
from functools import partial
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import access
from ..forms import DltDecisionForm, LabToxicityRuleOutForm
from ..models import DltStatus, LabToxicityAssessment, ReportKind
from ..reports.cutoff import parse_cutoff
from ..selectors.dlt import dlt_overview_today, study_dlt_rules
from ..selectors.dlt_evidence import dlt_evidence
from ..selectors.dose_plan import doses_above_plan, subject_doses_above_plan
from ..selectors.memo import kept
from ..services.dlt import dlt_decide, lab_toxicity_rule_out
from . import jobs
from .display import signer_context
from .editing import save_through_service
from .subjects import role_label

DASHBOARD_SUBJECT_ROWS = 50
# The review queue, the pending items of the advice and the unreconciled lab toxicities show
# their oldest rows; the next come up as those are decided.
DASHBOARD_LIST_ROWS = 50


def rule_parts(reason: str, rule_id: str) -> tuple[str, str]:
    """A flag's reason split where it names its rule ("...; DLT: rule <id>: <text>"): what
    comes before "rule <id>: ", and the rule's text. The page shows the id as a badge between
    them, so the text is read once. A reason that names no rule is (reason, "")."""
    head, found, text = reason.rpartition(f"rule {rule_id}: ")
    if not rule_id or not found:
        return reason, ""
    return head.rstrip(), text


def _with_rule_parts(item) -> None:
    """Set `reason_head` and `rule_text` on an event of the overview (see `rule_parts`)."""
    flag = item.flag
    item.reason_head, item.rule_text = rule_parts(flag.reason, flag.rule) if flag else ("", "")


def _page_url(request: HttpRequest, key: str, page, step: int) -> str:
    """The address of the page before (step -1) or after (+1), keeping the other parameters."""
    if not (page.has_previous() if step < 0 else page.has_next()):
        return ""
    query = request.GET.copy()
    query[key] = page.number + step
    return f"?{query.urlencode()}"


def _dashboard_overview(study):
    """The study's overview at today (`dlt_overview_today`), each subject's row with what the
    dashboard shows of it worked out: its doses above the plan, its DLT candidates, and each
    event's flag reason split at its rule. All of it follows from the data, so it is kept
    while they stay the same (`memo.kept`) and shared by every user's page."""
    overview = dlt_overview_today(study)
    above = doses_above_plan([row.subject for row in overview.subjects])
    for row in overview.subjects:
        row.doses_above_plan = above.get(row.subject.pk, [])
        # Each row names only the events that are or were DLT candidates.
        row.dlt_events = [
            (item, DltStatus(item.status).label)
            for item in row.events
            if item.status != DltStatus.NOT_DLT
        ]
        for item in row.events:
            _with_rule_parts(item)
    return overview


@login_required
@require_GET
def dlt_dashboard(request: HttpRequest) -> HttpResponse:
    visible = set(access.subjects_for_user(request.user).values_list("pk", flat=True))
    overviews = []
    for study in access.studies_for_user(request.user):
        overview = copy.copy(kept("dlt_dashboard", study.pk, partial(_dashboard_overview, study)))
        # The advice is the study's, provisional while anything in it is pending; the
        # pending items listed are only those of the subjects this user may see.
        overview.study_advice = overview.advice
        overview.study_pending_count = len(overview.pending)
        # Only the subjects this user may see; the counts per dose level are the study's.
        overview.subjects = [row for row in overview.subjects if row.subject.pk in visible]
        overview.unreconciled_labs = [
            lab for lab in overview.unreconciled_labs if lab.subject.pk in visible
        ]
        # The lists of what awaits a decision, read once here (they are worked out on each
        # reading), show their oldest DASHBOARD_LIST_ROWS rows and count the rest.
        pending, queue = overview.pending, overview.queue
        overview.pending_elsewhere = overview.study_pending_count - len(pending)
        overview.pending_rows, overview.pending_total = pending[:DASHBOARD_LIST_ROWS], len(pending)
        overview.queue_rows, overview.queue_total = queue[:DASHBOARD_LIST_ROWS], len(queue)
        overview.unreconciled_rows = overview.unreconciled_labs[:DASHBOARD_LIST_ROWS]
        overview.unreconciled_total = len(overview.unreconciled_labs)
        # Possible medication errors of the subjects shown, in the rows and in a list of their own.
        overview.doses_above_plan = sorted(
            ((row.subject, dose) for row in overview.subjects for dose in row.doses_above_plan),
            key=lambda pair: (pair[1].given_on, pair[0].subject_code),
        )
        # The subjects table comes a page at a time, each study paged on its own.
        key = f"page-{study.code}"
        overview.page = Paginator(overview.subjects, DASHBOARD_SUBJECT_ROWS).get_page(
            request.GET.get(key)
        )
        overview.previous_url = _page_url(request, key, overview.page, -1)
        overview.next_url = _page_url(request, key, overview.page, +1)
        overviews.append(overview)
    return render(
        request,
        "ecrf/dlt_dashboard.html",
        {"overviews": overviews, "role_label": role_label(request.user)},
    )


@login_required
def dlt_decide_view(request: HttpRequest, assessment_id: UUID) -> HttpResponse:
    assessment = access.get_assessment_for_user(request.user, assessment_id)
    can_decide = access.is_site_investigator(request.user, assessment.adverse_event.subject.site)
    form = DltDecisionForm(request.POST or None)
    if request.method == "POST":
        if not can_decide:
            raise PermissionDenied("Only an investigator of the subject's site can decide.")
        signed = form.is_valid() and save_through_service(
            form, lambda: dlt_decide(assessment=assessment, by=request.user, **form.cleaned_data)
        )
        if signed:
            messages.success(request, "Decision signed and recorded.")
            return redirect("dlt_dashboard")
    event = assessment.adverse_event
    rules = study_dlt_rules(event.subject.study)
    reason_head, rule_text = rule_parts(assessment.rule_reason, assessment.rule)
    return render(
        request,
        "ecrf/dlt_decide.html",
        {
            "assessment": assessment,
            "event": event,
            "rules": rules,
            "reason_head": reason_head,
            "rule_text": rule_text,
            "evidence": dlt_evidence(event),
            "doses_above_plan": subject_doses_above_plan(event.subject),
            "form": form,
            "can_decide": can_decide,
            "role_label": role_label(request.user),
            **signer_context(request.user),
        },
    )


ONLY_SITE_INVESTIGATOR_DECIDES = "Only an investigator of the subject's site can decide."


@login_required
def lab_toxicity_rule_out_view(request: HttpRequest, result_id: UUID) -> HttpResponse:
    """Rule out, signed, a lab result of grade 3 or more with no matching adverse event as a
    DLT (an unreconciled potential DLT of the DLT dashboard)."""
    result = access.get_lab_result_for_user(request.user, result_id)
    can_decide = access.is_site_investigator(request.user, result.subject.site)
    decided = (
        LabToxicityAssessment.objects.filter(lab_result=result).select_related("signature").first()
    )
    form = LabToxicityRuleOutForm(request.POST or None)
    if request.method == "POST":
        if not can_decide:
            raise PermissionDenied(ONLY_SITE_INVESTIGATOR_DECIDES)
        signed = form.is_valid() and save_through_service(
            form,
            lambda: lab_toxicity_rule_out(lab_result=result, by=request.user, **form.cleaned_data),
        )
        if signed:
            messages.success(request, "Ruled out as a DLT, signed and recorded.")
            return redirect("dlt_dashboard")
    return render(
        request,
        "ecrf/lab_toxicity_rule_out.html",
        {
            "result": result,
            "decided": decided,
            "form": form,
            "can_decide": can_decide,
            "role_label": role_label(request.user),
            **signer_context(request.user),
        },
    )


SAFETY_REPORT_FORBIDDEN = "Your role does not give access to the safety summary."


@login_required
@require_http_methods(["GET", "POST"])
def safety_report_download(request: HttpRequest, study_id: UUID) -> HttpResponse:
    """The safety summary PDF of a study the user is assigned to, at cutoff= (default today).

    GET shows the request form; POST asks for the PDF, made by a background job, and redirects
    to the job's page.
    """
    study = access.get_study_for_user(request.user, study_id)
    # Who may: access.CAPABILITIES[Action.SAFETY_REPORT] (not research nurses nor monitors).
    access.ensure_can(
        request.user, access.Action.SAFETY_REPORT, study=study, message=SAFETY_REPORT_FORBIDDEN
    )
    data = request.POST if request.method == "POST" else request.GET
    try:
        cutoff = parse_cutoff(data.get("cutoff"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0])
    what = {"kind": ReportKind.SAFETY_SUMMARY, "study": study, "cutoff": cutoff}
    if request.method == "POST":
        user = request.user
        generated_by = f"{user.get_full_name() or user.get_username()} ({role_label(user)})"
        return jobs.start_job(request, generated_by=generated_by, **what)
    return jobs.request_page(
        request,
        title=f"Safety summary of {study.code} at {cutoff:%Y-%m-%d}",
        action=request.path,
        fields={"cutoff": cutoff.isoformat()},
        **what,
    )
