"""What the navigation bar (base.html) shows a user, from the capability table."""

from django import template

from ..exports.permissions import can_export

register = template.Library()


@register.simple_tag(takes_context=True)
def may_export(context) -> bool:
    """Whether the Exports link is shown: the roles' capability, read from the roles the
    request has loaded already (`ecrf.access.user_roles`), not from the permission tables."""
    return can_export(context["user"])
