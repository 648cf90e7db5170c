"""Abstract bases shared by every clinical model: UUID keys, versions, no deletion."""

import datetime as dt
import operator
import uuid
from decimal import Decimal

from django.core.exceptions import FieldError, ValidationError
from django.db import models, router
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE
from django.utils import timezone

from .limits import text_limit


class DeletionRefused(Exception):
    """Clinical data is never deleted; it is marked entered-in-error with a reason."""


DELETION_REFUSED = (
    "{model} records are never deleted; mark the record as entered in error with a reason instead."
)


class NoDeleteQuerySet(models.QuerySet):
    def delete(self):
        raise DeletionRefused(DELETION_REFUSED.format(model=self.model._meta.verbose_name))


class AuditedModel(models.Model):
    """A row whose every change is written to the audit trail by the service layer.

    `version` increases by one on every update so that a form saved on a stale copy is refused
    instead of silently overwriting someone else's change.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise DeletionRefused(DELETION_REFUSED.format(model=self._meta.verbose_name))

    # Validation (full_clean) as Django does it, in fewer queries: every write of the services
    # validates its records, and Django's own way costs a query per foreign key, one for the
    # new key's uniqueness and a savepoint and a query per check constraint.

    def clean_fields(self, exclude=None):
        """Django's, except that a foreign key to a record loaded from the database (it is on
        this object already) is not looked up again to see that it exists."""
        exclude = set(exclude or ())
        for field in self._meta.concrete_fields:
            if field.is_relation and field.is_cached(self):
                related = field.get_cached_value(self)
                if related is not None and not related._state.adding:
                    exclude.add(field.name)
        super().clean_fields(exclude=exclude)

    def validate_unique(self, exclude=None):
        """Django's, except that a new record's key, a fresh random UUID, is not looked up."""
        if self._state.adding:
            exclude = {*(exclude or ()), self._meta.pk.name}
        super().validate_unique(exclude=exclude)

    def validate_constraints(self, exclude=None):
        """Django's, with every check constraint of the model tested in one query."""
        checks, others = [], []
        for model, constraints in self.get_constraints():
            for constraint in constraints:
                kind = checks if isinstance(constraint, models.CheckConstraint) else others
                kind.append((model, constraint))
        errors: dict = {}
        for constraint in self._failed_checks([c for _model, c in checks], exclude):
            error = ValidationError(
                constraint.get_violation_error_message(), code=constraint.violation_error_code
            )
            errors = error.update_error_dict(errors)
        using = router.db_for_write(type(self), instance=self)
        for model, constraint in others:
            try:
                constraint.validate(model, self, exclude=exclude, using=using)
            except ValidationError as error:
                if getattr(error, "code", None) == "unique" and len(constraint.fields) == 1:
                    errors.setdefault(constraint.fields[0], []).append(error)
                else:
                    errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def _failed_checks(self, checks, exclude) -> list:
        """The check constraints this object's values break. A condition made of plain
        comparisons of the values (see `condition_holds`) is worked out here; any other is
        tested by the database, each one's condition over the values (as CheckConstraint.validate
        builds it), all in one SELECT. A constraint on an excluded field is not tested, as in
        Django."""
        fields = self._get_field_expression_map(meta=self._meta, exclude=exclude)
        values = {name: getattr(value, "value", value) for name, value in fields.items()}
        plain = all(isinstance(value, models.Value) for value in fields.values())
        failed, in_database = [], []
        for constraint in checks:
            try:
                if not plain:
                    raise NotPlain
                holds = condition_holds(constraint.condition, values)
            except NotPlain:
                in_database.append(constraint)
                continue
            except UnknownField:
                continue
            if holds is False:
                failed.append(constraint)
        failed = {id(c) for c in [*failed, *self._failed_in_database(in_database, fields)]}
        return [constraint for constraint in checks if id(constraint) in failed]

    def _failed_in_database(self, checks, fields) -> list:
        if not checks:
            return []
        query = Query(None)
        for name, value in fields.items():
            expression = value if hasattr(value, "resolve_expression") else models.Value(value)
            query.add_annotation(expression, name, select=False)
        tested = []
        for number, constraint in enumerate(checks):
            holds = Coalesce(
                models.ExpressionWrapper(
                    models.Q(constraint.condition), output_field=models.BooleanField()
                ),
                models.Value(True),
                output_field=models.BooleanField(),
            )
            try:
                query.add_annotation(holds, f"_check_{number}")
            except FieldError:
                continue
            tested.append(constraint)
        if not tested:
            return []
        row = query.get_compiler(using=router.db_for_write(type(self), instance=self)).execute_sql(
            SINGLE
        )
        return [constraint for constraint, holds in zip(tested, row, strict=True) if not holds]


class NotPlain(Exception):
    """A condition that is not plain comparisons of values: the database tests it."""


class UnknownField(Exception):
    """A condition on a field that is not among the values (excluded): it is not tested."""


_ORDERED = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_NUMBERS = (int, float, Decimal)


def _kind(value) -> type:
    """The kind of value a comparison accepts on both sides (a choice is a str, 1 == 1.0)."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, _NUMBERS):
        return Decimal
    for kind in (str, dt.datetime, dt.date, uuid.UUID):
        if isinstance(value, kind):
            return kind
    raise NotPlain


def _lookup_holds(lookup: str, wanted, values: dict) -> bool | None:
    name, _, kind = lookup.partition("__")
    kind = kind or "exact"
    if name not in values:
        raise UnknownField
    value = values[name]
    if isinstance(wanted, models.F):
        if wanted.name not in values:
            raise UnknownField
        wanted = values[wanted.name]
        if wanted is None:
            return None  # a comparison with NULL is unknown in SQL
    elif hasattr(wanted, "resolve_expression"):
        raise NotPlain
    elif kind == "exact" and wanted is None:
        kind, wanted = "isnull", True  # as Django's query builder reads field=None
    if kind == "isnull":
        if not isinstance(wanted, bool):
            raise NotPlain
        return (value is None) == wanted
    if kind not in ("exact", *_ORDERED):
        raise NotPlain
    if value is None:
        return None
    if _kind(value) is not _kind(wanted):
        raise NotPlain
    if isinstance(value, dt.datetime) and (value.tzinfo is None) != (wanted.tzinfo is None):
        raise NotPlain
    if kind == "exact":
        return value == wanted
    if isinstance(value, str | bool | uuid.UUID):
        raise NotPlain  # text orders by the database's collation
    try:
        return _ORDERED[kind](value, wanted)
    except TypeError as unordered:  # a naive and an aware time, say
        raise NotPlain from unordered


def condition_holds(condition, values: dict) -> bool | None:
    """A check constraint's condition over a record's values in SQL's three-valued logic
    (None: unknown, which a check constraint lets pass). Plain conditions only: AND, OR and
    NOT of exact, gt, gte, lt, lte and isnull lookups of a field against a value or another
    field (F) of the same record; NotPlain for anything else."""
    if not isinstance(condition, models.Q):
        if not isinstance(condition, tuple) or len(condition) != 2:
            raise NotPlain
        return _lookup_holds(*condition, values)
    results = [condition_holds(child, values) for child in condition.children]
    if condition.connector == models.Q.AND:
        stop, go_on = False, True
    elif condition.connector == models.Q.OR:
        stop, go_on = True, False
    else:
        raise NotPlain
    if any(result is stop for result in results):
        holds = stop
    elif any(result is None for result in results):
        holds = None
    else:
        holds = go_on
    if condition.negated and holds is not None:
        holds = not holds
    return holds


class ClinicalRecord(AuditedModel):
    """A clinical record: corrected with a reason, or marked entered-in-error, never deleted."""

    entered_in_error = models.BooleanField(default=False)
    entered_in_error_reason = models.TextField(blank=True, **text_limit())

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(entered_in_error=False) | ~models.Q(entered_in_error_reason=""),
                name="%(app_label)s_%(class)s_entered_in_error_needs_reason",
                violation_error_message="Marking a record as entered in error needs a reason.",
            ),
        ]


DATE_BEFORE_CONSENT = "{label} ({value}) is before the informed consent date ({consent})."
DATE_IN_FUTURE = "{label} ({value}) is in the future."


def date_errors(subject, dates: dict[str, tuple[str, object]]) -> dict[str, str]:
    """Hard edit check shared by the clinical records: no date before consent or in the future.

    `dates` maps a field name to (label, date); empty dates are skipped.
    """
    today = timezone.localdate()
    errors = {}
    for name, (label, value) in dates.items():
        if value is None:
            continue
        day = value.date() if isinstance(value, dt.datetime) else value
        if subject is not None and subject.consent_on and day < subject.consent_on:
            errors[name] = DATE_BEFORE_CONSENT.format(
                label=label, value=day.isoformat(), consent=subject.consent_on.isoformat()
            )
        elif day > today:
            errors[name] = DATE_IN_FUTURE.format(label=label, value=day.isoformat())
    return errors
