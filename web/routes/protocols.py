"""Treatment protocols (`/protocols`): the versions, a draft editor that checks the clinic's limits as the API does
(api/services/protocols.py, the same calls), and a version's page where the medical director approves or withdraws,
and where those who draft start the next version of an approved or withdrawn one (the API's PATCH of it).
"""

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from api.actor import Actor
from api.deps import ClinicDep, RulesDep, SessionDep
from api.errors import AppError, Conflict
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening_rules import RuleParameters
from api.services import protocols
from db.models import Protocol, ProtocolStatus
from db.vocabulary import Zone
from web import nav
from web.deps import CheckedForm, page_for, page_requires
from web.errors import PageRoute
from web.protocol_form import (
    LABELS,
    STEP_FIELDS,
    Draft,
    Problem,
    change,
    check,
    draft_of,
    invalid_fields,
    read_draft,
    steps_changes,
    vocabulary,
)
from web.protocol_page import appointments_to_move, lineage, versions
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, Depends(page_for(nav.PROTOCOLS))]
Drafter = Annotated[Actor, Depends(page_requires(Permission.PROTOCOLS_DRAFT))]
Approver = Annotated[Actor, Depends(page_requires(Permission.PROTOCOLS_APPROVE))]
DONE = {
    "saved": "The draft was saved.",
    "approved": "Approved: this version can now be booked, and it can no longer change.",
    "withdrawn": "Withdrawn: it can no longer be booked or started.",
}


@router.get("/protocols")
def protocol_list(request: Request, session: SessionDep, actor: Reader, clinic: ClinicDep) -> Response:
    """Every version, by name, newest version first."""
    found = versions(session, protocols.list_all(session, status=None), ZoneInfo(clinic.timezone))
    can_draft = allows(actor.user.role, Permission.PROTOCOLS_DRAFT)
    return render(request, "protocols/list.html", actor=actor, title="Protocols", versions=found, can_draft=can_draft)


@router.get("/protocols/new")
def new_protocol(request: Request, actor: Drafter, clinic: ClinicDep, rules: RulesDep) -> Response:
    """An empty draft with one step."""
    words = vocabulary(clinic)
    return _editor(request, actor, Draft(name="", rows=[words.blank_row()]), clinic, rules, protocol=None)


@router.post("/protocols/new")
def save_new(
    request: Request, session: SessionDep, actor: Drafter, form: CheckedForm, clinic: ClinicDep, rules: RulesDep
) -> Response:
    """Check (htmx, on every change), add or remove a step, or save the draft once nothing breaks a limit."""
    return _edited(request, session, actor, form, clinic, rules, protocol=None)


@router.get("/protocols/{protocol_id}")
def protocol_page(
    protocol_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: Reader,
    clinic: ClinicDep,
    done: str | None = None,
) -> Response:
    """One version: its steps, its sha256 once approved, and what the signed-in role may do with it."""
    protocol = protocols.get(session, protocol_id=protocol_id)
    return _page(request, session, actor, protocol, clinic, notice=DONE.get(done or ""))


@router.get("/protocols/{protocol_id}/edit")
def edit_protocol(
    protocol_id: uuid.UUID, request: Request, session: SessionDep, actor: Drafter, clinic: ClinicDep, rules: RulesDep
) -> Response:
    """The editor, for a draft."""
    protocol = _draft(session, protocol_id)
    return _editor(request, actor, draft_of(protocol), clinic, rules, protocol=protocol)


@router.post("/protocols/{protocol_id}/edit")
def save_edit(
    protocol_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: Drafter,
    form: CheckedForm,
    clinic: ClinicDep,
    rules: RulesDep,
) -> Response:
    """As for a new draft, saving into this one."""
    return _edited(request, session, actor, form, clinic, rules, protocol=_draft(session, protocol_id))


@router.get("/protocols/{protocol_id}/new-version")
def new_version(
    protocol_id: uuid.UUID, request: Request, session: SessionDep, actor: Drafter, clinic: ClinicDep, rules: RulesDep
) -> Response:
    """The editor, filled with an approved or withdrawn version's steps: saving makes the next draft version."""
    protocol = _released(session, protocol_id)
    return _editor(request, actor, draft_of(protocol), clinic, rules, protocol=protocol)


@router.post("/protocols/{protocol_id}/new-version")
def save_new_version(
    protocol_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: Drafter,
    form: CheckedForm,
    clinic: ClinicDep,
    rules: RulesDep,
) -> Response:
    """As for a draft; saving asks the service to edit this version, which makes the next draft version (as the
    API's PATCH does) and leaves this one as it is."""
    return _edited(request, session, actor, form, clinic, rules, protocol=_released(session, protocol_id))


@router.post("/protocols/{protocol_id}/approve")
def approve(
    protocol_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: Approver,
    _form: CheckedForm,
    clinic: ClinicDep,
    rules: RulesDep,
) -> Response:
    """Approve a draft under today's limits (medical director only)."""
    try:
        protocols.approve(session, actor=actor, protocol_id=protocol_id, clinic=clinic, rules=rules)
    except AppError as exc:
        return _refused(request, session, actor, protocol_id, clinic, exc)
    return _redirect(f"/protocols/{protocol_id}?done=approved")


@router.post("/protocols/{protocol_id}/withdraw")
def withdraw(
    protocol_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    actor: Approver,
    form: CheckedForm,
    clinic: ClinicDep,
) -> Response:
    """Withdraw an approved version (medical director only); its page then lists the appointments to move."""
    reason = str(form.get("reason") or "").strip()[:500]
    try:
        if not reason:
            raise Conflict("Give the reason for withdrawing it: staff moving the appointments will read it.")
        protocols.withdraw(session, actor=actor, protocol_id=protocol_id, reason=reason)
    except AppError as exc:
        return _refused(request, session, actor, protocol_id, clinic, exc)
    return _redirect(f"/protocols/{protocol_id}?done=withdrawn")


def _draft(session: SessionDep, protocol_id: uuid.UUID) -> Protocol:
    protocol = protocols.get(session, protocol_id=protocol_id)
    if protocol.status != ProtocolStatus.DRAFT:
        raise Conflict(f"Only a draft can be edited; this version is {protocol.status.value}.")
    return protocol


def _released(session: SessionDep, protocol_id: uuid.UUID) -> Protocol:
    protocol = protocols.get(session, protocol_id=protocol_id)
    if protocol.status == ProtocolStatus.DRAFT:
        raise Conflict("This version is still a draft: edit it rather than start a new version from it.")
    return protocol


def _edited(
    request: Request,
    session: SessionDep,
    actor: Actor,
    form: CheckedForm,
    clinic: ClinicSettings,
    rules: RuleParameters,
    *,
    protocol: Protocol | None,
) -> Response:
    action = str(form.get("action") or request.query_params.get("action") or "check")
    draft = read_draft(form)
    change(draft, action, vocabulary(clinic))
    data, problems = check(draft, clinic=clinic, rules=rules)
    if action == "save" and data is not None and not problems:
        if protocol is None:
            saved = protocols.create(session, actor=actor, data=data, clinic=clinic, rules=rules)
        else:
            saved = protocols.edit(
                session, actor=actor, protocol_id=protocol.id, changes=steps_changes(data), clinic=clinic, rules=rules
            )
        return _redirect(f"/protocols/{saved.id}?done=saved")
    fragment = "protocols/_steps.html" if request.headers.get("HX-Request") else None
    status_code = 422 if action == "save" else 200
    return _editor(
        request,
        actor,
        draft,
        clinic,
        rules,
        protocol=protocol,
        problems=problems,
        fragment=fragment,
        status=status_code,
    )


def _editor(
    request: Request,
    actor: Actor,
    draft: Draft,
    clinic: ClinicSettings,
    rules: RuleParameters,
    *,
    protocol: Protocol | None,
    problems: list[Problem] | None = None,
    fragment: str | None = None,
    status: int = 200,
) -> Response:
    shown = problems if problems is not None else (check(draft, clinic=clinic, rules=rules)[1] if protocol else [])
    source = protocol if protocol and protocol.status != ProtocolStatus.DRAFT else None  # a new version of it
    title, action_url = "New protocol", "/protocols/new"
    if protocol:
        title = f"New version of {protocol.name}" if source else f"Edit {protocol.name}"
        action_url = f"/protocols/{protocol.id}/{'new-version' if source else 'edit'}"
    return render(
        request,
        fragment or "protocols/edit.html",
        actor=actor,
        status_code=status,
        title=title,
        protocol=protocol,
        source=source,
        action_url=action_url,
        draft=draft,
        fields=STEP_FIELDS,
        labels=LABELS,
        choices=vocabulary(clinic).choices,
        problems=shown,
        invalid=invalid_fields(shown),
        breaking={p.step for p in shown},
        limits=clinic.current_limits.max_current_ua,
        caps={z.value: rules.zone_caps_percent.percent_for(z) for z in Zone},
        checked=problems is not None or protocol is not None,
        alert=status == 422,
    )


def _page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    protocol: Protocol,
    clinic: ClinicSettings,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    zone = ZoneInfo(clinic.timezone)
    history = lineage(session, protocol, zone)
    role = actor.user.role
    released = protocol.status != ProtocolStatus.DRAFT
    drafter = allows(role, Permission.PROTOCOLS_DRAFT)
    return render(
        request,
        "protocols/page.html",
        actor=actor,
        status_code=status,
        title=f"{protocol.name}, version {protocol.version}",
        version=history.version,
        history=history,
        can_new_version=released and drafter and history.open_draft is None,
        open_draft=history.open_draft if released and drafter else None,
        labels=LABELS,
        fields=STEP_FIELDS,
        can_edit=not released and drafter,
        can_approve=protocol.status == ProtocolStatus.DRAFT and allows(role, Permission.PROTOCOLS_APPROVE),
        can_withdraw=protocol.status == ProtocolStatus.APPROVED and allows(role, Permission.PROTOCOLS_APPROVE),
        to_move=appointments_to_move(session, actor=actor, protocol=protocol, zone=zone)
        if protocol.status == ProtocolStatus.WITHDRAWN
        else [],
        notice=notice,
        problem=problem,
    )


def _refused(
    request: Request, session: SessionDep, actor: Actor, protocol_id: uuid.UUID, clinic: ClinicSettings, exc: AppError
) -> Response:
    """The service's refusal in its own words, on the version's page; nothing it had begun is kept."""
    session.rollback()
    protocol = protocols.get(session, protocol_id=protocol_id)
    return _page(request, session, actor, protocol, clinic, problem=exc.detail, status=exc.status_code)


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
