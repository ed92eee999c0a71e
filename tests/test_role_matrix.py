"""Role matrix (DESIGN.md §5): every action is tried by every role, in the UI and the API.
Allowed ones succeed and take effect; the others are 403 and change nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.alerts.models import AlertInstance, Heartbeat, Incident, Policy
from apps.alerts.services import policy_create
from apps.audit import Actor
from apps.audit.models import AuditEvent
from apps.billing.models import SpikeProtection
from apps.errors.dsn import dsn_key_create
from apps.errors.models import ArtifactBundle, Attachment, DsnKey, Event, Issue, ReleaseFile
from apps.errors.services import event_store, issue_merge
from apps.projects.models import ApiKey, Invitation, Membership, Organization, Project, Role
from apps.projects.services import invitation_create
from tests.conftest import PASSWORD, client_for, make_member

ROLES = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]


@dataclass
class World:
    org: Organization
    project: Project
    key: ApiKey
    target: Membership  # a viewer that admin actions act on
    invitation: Invitation
    policy: Policy
    incident: Incident


@pytest.fixture
def world(org_a, alice) -> World:
    target = Membership.objects.get(user=make_member(org_a.organization, "tina@acme.test", Role.VIEWER))
    invitation, _ = invitation_create(
        org_a.organization,
        "ivan@acme.test",
        Role.MEMBER,
        Membership.objects.get(user=alice),
        by=Actor(user=alice),
    )
    key = ApiKey.objects.filter(project=org_a.project).first()
    policy = policy_create(org_a.project, {"name": "errors", "kind": "log_count", "spec": {}}, actor=None)
    instance = AlertInstance.objects.create(policy=policy, labels={}, labels_key="{}")
    incident = Incident.objects.create(
        project=org_a.project,
        policy=policy,
        instance=instance,
        title="errors",
        priority="P3",
        opened_at=timezone.now(),
    )
    return World(org_a.organization, org_a.project, key, target, invitation, policy, incident)


def o(name, w, *args):
    return reverse(f"projects:{name}", args=[w.org.pk, *args])


def p(name, w, *args):
    return reverse(f"projects:{name}", args=[w.project.pk, *args])


@dataclass
class Action:
    name: str
    need: str
    ui: Callable[[object, World], object] | None
    api: Callable[[object, World], object] | None
    took_effect: Callable[[World], bool] | None  # None: a read, nothing to check
    manage: Callable[[object, World], object] | None = None  # the tenant admin at /manage/


def issue(w, message="checkout failed"):
    """An issue of the project (made by an event on first use)."""
    if not Issue.objects.filter(project=w.project, title=message).exists():
        event_store(w.project.pk, {"message": message}, datetime.now(UTC))
    return Issue.objects.get(project=w.project, title=message)


def attachment(w):
    """A file sent with the issue's event."""
    event = Event.objects.filter(issue=issue(w)).first()
    found = Attachment.objects.filter(project=w.project, event_id=event.event_id).first()
    return found or Attachment.objects.create(
        project=w.project, event_id=event.event_id, filename="cart.json", size=2, data=b"{}"
    )


def merged(w):
    """The issue, with the events of a second one merged into it (two grouping hashes)."""
    if not Event.objects.filter(issue=issue(w), title="split me").exists():
        issue_merge(issue(w), [issue(w, "split me")])
    return issue(w)


def hash_of(w):
    """The grouping hash of the merged-in events: what a split takes off."""
    return Event.objects.filter(issue=merged(w), title="split me").values_list("hashes", flat=True)[0][0]


def issue_url(w, action=""):
    return f"/api/v1/projects/{w.project.pk}/issues/{issue(w).pk}{action}"


def dsn_key(w):
    return DsnKey.objects.filter(project=w.project).first() or dsn_key_create(w.project, "matrix")


def m(path):
    return f"/manage/{path}"


def api(method, path, data=None):
    def call(client, w):
        return getattr(client, method)(path(w), data or {}, content_type="application/json")

    return call


def debug_id_bundle_upload(client, w):
    """What `sentry-cli sourcemaps upload` (no release, debug ids injected) does: upload the
    bundle as one chunk, then ask to assemble it."""
    debug_id = "26590f80-9252-5123-a015-59d76dd4bb1e"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("files/_/_/main.js", f"var a=1;\n//# debugId={debug_id}\n")
        entry = {"type": "minified_source", "url": "~/main.js", "headers": {"debug-id": debug_id}}
        bundle.writestr("manifest.json", json.dumps({"files": {"files/_/_/main.js": entry}}))
    data = archive.getvalue()
    checksum = hashlib.sha1(data).hexdigest()
    base = f"/api/0/organizations/{w.org.pk}"
    client.post(f"{base}/chunk-upload/", {"file": SimpleUploadedFile(checksum, data)})
    body = {"checksum": checksum, "chunks": [checksum], "projects": [str(w.project.pk)]}
    return client.post(f"{base}/artifactbundle/assemble/", body, content_type="application/json")


def ui_post(url, data=None):
    return lambda client, w: client.post(url(w), (data(w) if callable(data) else data) or {})


def ui_get(url):
    return lambda client, w: client.get(url(w))


ACTIONS = [
    Action(
        "view organization",
        Role.VIEWER,
        ui_get(lambda w: o("organization", w)),
        api("get", lambda w: f"/api/v1/orgs/{w.org.pk}"),
        None,
    ),
    Action(
        "view project and keys",
        Role.VIEWER,
        ui_get(lambda w: p("project-settings", w)),
        api("get", lambda w: f"/api/v1/projects/{w.project.pk}/keys"),
        None,
    ),
    Action(
        "view members",
        Role.VIEWER,
        ui_get(lambda w: o("members", w)),
        api("get", lambda w: f"/api/v1/orgs/{w.org.pk}/members"),
        None,
    ),
    Action(
        "create project",
        Role.ADMIN,
        ui_post(lambda w: o("project-new", w), {"name": "New"}),
        api("post", lambda w: f"/api/v1/orgs/{w.org.pk}/projects", {"name": "New"}),
        lambda w: Project.objects.filter(name="New").exists(),
        ui_post(lambda w: m("projects/project/add/"), lambda w: {"organization": w.org.pk, "name": "New"}),
    ),
    Action(
        "rename project",
        Role.ADMIN,
        ui_post(lambda w: p("project-rename", w), {"name": "Renamed"}),
        api("patch", lambda w: f"/api/v1/projects/{w.project.pk}", {"name": "Renamed"}),
        lambda w: Project.objects.filter(name="Renamed").exists(),
        ui_post(lambda w: m(f"projects/project/{w.project.pk}/change/"), {"name": "Renamed"}),
    ),
    Action(
        "delete project",
        Role.ADMIN,
        ui_post(lambda w: p("project-delete", w), {"confirm": "Acme web"}),
        api("delete", lambda w: f"/api/v1/projects/{w.project.pk}"),
        lambda w: not Project.objects.filter(pk=w.project.pk).exists(),
        ui_post(lambda w: m(f"projects/project/{w.project.pk}/delete/"), {"post": "yes"}),
    ),
    Action(
        "create key",
        Role.ADMIN,
        ui_post(lambda w: p("key-new", w), {"scope": "read", "name": "k"}),
        api("post", lambda w: f"/api/v1/projects/{w.project.pk}/keys", {"scope": "read", "name": "k"}),
        lambda w: ApiKey.objects.filter(name="k").exists(),
    ),
    Action(
        "revoke key",
        Role.ADMIN,
        ui_post(lambda w: p("key-revoke", w, w.key.pk)),
        api("delete", lambda w: f"/api/v1/projects/{w.project.pk}/keys/{w.key.pk}"),
        lambda w: ApiKey.objects.get(pk=w.key.pk).revoked_at is not None,
        ui_post(
            lambda w: m("projects/apikey/"),
            lambda w: {"action": "revoke_keys", "_selected_action": [w.key.pk]},
        ),
    ),
    Action(
        "invite",
        Role.ADMIN,
        ui_post(lambda w: o("invitation-new", w), {"email": "x@acme.test", "role": "viewer"}),
        api(
            "post",
            lambda w: f"/api/v1/orgs/{w.org.pk}/invitations",
            {"email": "x@acme.test", "role": "viewer"},
        ),
        lambda w: Invitation.objects.filter(email="x@acme.test").exists(),
    ),
    Action(
        "revoke invitation",
        Role.ADMIN,
        ui_post(lambda w: o("invitation-revoke", w, w.invitation.pk)),
        api("delete", lambda w: f"/api/v1/orgs/{w.org.pk}/invitations/{w.invitation.pk}"),
        lambda w: not Invitation.objects.filter(pk=w.invitation.pk).exists(),
        ui_post(lambda w: m(f"projects/invitation/{w.invitation.pk}/delete/"), {"post": "yes"}),
    ),
    Action(
        "change a member's role",
        Role.ADMIN,
        ui_post(lambda w: o("member-role", w, w.target.pk), {"role": "member"}),
        api("patch", lambda w: f"/api/v1/orgs/{w.org.pk}/members/{w.target.pk}", {"role": "member"}),
        lambda w: Membership.objects.get(pk=w.target.pk).role == Role.MEMBER,
        ui_post(lambda w: m(f"projects/membership/{w.target.pk}/change/"), {"role": "member"}),
    ),
    Action(
        "remove a member",
        Role.ADMIN,
        ui_post(lambda w: o("member-remove", w, w.target.pk)),
        api("delete", lambda w: f"/api/v1/orgs/{w.org.pk}/members/{w.target.pk}"),
        lambda w: not Membership.objects.filter(pk=w.target.pk).exists(),
        ui_post(lambda w: m(f"projects/membership/{w.target.pk}/delete/"), {"post": "yes"}),
    ),
    Action(
        "view audit log",
        Role.ADMIN,
        ui_get(lambda w: o("audit", w)),
        api("get", lambda w: f"/api/v1/orgs/{w.org.pk}/audit"),
        None,
        ui_get(lambda w: m("audit/auditevent/")),
    ),
    Action(
        "view usage",  # members see their projects' usage; the quota part is for admins (tests/billing)
        Role.VIEWER,
        ui_get(lambda w: reverse("billing:usage", args=[w.org.pk])),
        api("get", lambda w: f"/api/v1/orgs/{w.org.pk}/usage?group_by=project,signal,reason"),
        None,
    ),
    Action(
        "download statements",
        Role.ADMIN,
        ui_get(lambda w: reverse("billing:statements-csv", args=[w.org.pk])),
        None,
        None,
    ),
    Action(
        "switch spike protection",
        Role.ADMIN,
        ui_post(
            lambda w: reverse("billing:spike-protection", args=[w.org.pk, w.project.pk]), {"enabled": "off"}
        ),
        api("put", lambda w: f"/api/v1/projects/{w.project.pk}/spike-protection", {"enabled": False}),
        lambda w: SpikeProtection.objects.filter(project=w.project, enabled=False).exists(),
    ),
    Action(
        "rename organization",
        Role.ADMIN,
        ui_post(lambda w: o("organization-rename", w), {"name": "Acme 2"}),
        api("patch", lambda w: f"/api/v1/orgs/{w.org.pk}", {"name": "Acme 2"}),
        lambda w: Organization.objects.filter(name="Acme 2").exists(),
    ),
    Action(
        "view an issue's events",
        Role.VIEWER,
        ui_get(lambda w: f"/projects/{w.project.pk}/issues/{issue(w).pk}/"),
        api("get", lambda w: issue_url(w, "/events")),
        None,
    ),
    Action(
        "download an event attachment",
        Role.MEMBER,
        ui_get(lambda w: f"/projects/{w.project.pk}/issues/{issue(w).pk}/attachments/{attachment(w).pk}/"),
        None,
        None,
    ),
    Action(
        "upload a release file (source map)",
        Role.ADMIN,
        None,
        lambda client, w: client.post(
            f"/api/0/projects/{w.org.pk}/{w.project.pk}/releases/shop@1.0.0/files/",
            {"name": "~/main.min.js", "file": SimpleUploadedFile("main.min.js", b"var a=1;")},
        ),
        lambda w: ReleaseFile.objects.filter(project=w.project, name="~/main.min.js").exists(),
    ),
    Action(
        "upload source maps with sentry-cli (chunk upload)",
        Role.ADMIN,
        None,
        api("get", lambda w: f"/api/0/organizations/{w.org.pk}/chunk-upload/"),
        None,
    ),
    Action(
        "upload a debug-id bundle without a release (sentry-cli assemble)",
        Role.ADMIN,
        None,
        debug_id_bundle_upload,
        lambda w: ArtifactBundle.objects.filter(project=w.project).exists(),
    ),
    Action(
        "create an alert on issues",
        Role.ADMIN,
        ui_post(
            lambda w: f"/projects/{w.project.pk}/issues/alerts/new/", {"kind": "new_issue", "window": "1h"}
        ),
        None,
        lambda w: Policy.objects.filter(project=w.project, kind="new_issue").exists(),
    ),
    Action(
        "resolve an issue",
        Role.MEMBER,
        ui_post(lambda w: f"/projects/{w.project.pk}/issues/{issue(w).pk}/resolve/"),
        api("post", lambda w: issue_url(w, "/resolve")),
        lambda w: issue(w).status == "resolved",
    ),
    Action(
        "ignore an issue",
        Role.MEMBER,
        ui_post(lambda w: f"/projects/{w.project.pk}/issues/{issue(w).pk}/ignore/"),
        api("post", lambda w: issue_url(w, "/ignore"), {"until_count": 10}),
        lambda w: issue(w).status == "ignored",
    ),
    Action(
        "unresolve an issue",
        Role.MEMBER,
        ui_post(lambda w: f"/projects/{w.project.pk}/issues/{issue(w).pk}/unresolve/"),
        api("post", lambda w: issue_url(w, "/unresolve")),
        lambda w: issue(w).substatus == "ongoing",
    ),
    Action(
        "merge issues",
        Role.MEMBER,
        ui_post(
            lambda w: f"/projects/{w.project.pk}/issues/merge/",
            lambda w: {"issue": [issue(w).pk, issue(w, "other").pk]},
        ),
        lambda client, w: client.post(
            issue_url(w, "/merge"), {"issue_ids": [issue(w, "other").pk]}, content_type="application/json"
        ),
        lambda w: not Issue.objects.filter(title="other").exists(),
    ),
    Action(
        "split an issue",
        Role.MEMBER,
        ui_post(
            lambda w: reverse("errors:issue-split", args=[w.project.pk, merged(w).pk]),
            lambda w: {"hash": hash_of(w)},
        ),
        lambda client, w: client.post(
            issue_url(w, "/split"), {"hashes": [hash_of(w)]}, content_type="application/json"
        ),
        lambda w: Issue.objects.filter(project=w.project, title="split me").exists(),
    ),
    Action(
        "create a DSN key",
        Role.ADMIN,
        ui_post(lambda w: f"/projects/{w.project.pk}/dsn-keys/new/", {"name": "sdk"}),
        api("post", lambda w: f"/api/v1/projects/{w.project.pk}/dsn-keys", {"name": "sdk"}),
        lambda w: DsnKey.objects.filter(project=w.project).exists(),
    ),
    Action(
        "revoke a DSN key",
        Role.ADMIN,
        ui_post(lambda w: f"/projects/{w.project.pk}/dsn-keys/{dsn_key(w).pk}/revoke/"),
        api("delete", lambda w: f"/api/v1/projects/{w.project.pk}/dsn-keys/{dsn_key(w).pk}"),
        lambda w: dsn_key(w).revoked_at is not None,
    ),
    Action(
        "transfer ownership",
        Role.OWNER,
        ui_post(lambda w: o("organization-transfer", w), lambda w: {"membership": w.target.pk}),
        None,
        lambda w: Membership.objects.get(pk=w.target.pk).role == Role.OWNER,
    ),
    Action(
        "delete organization",
        Role.OWNER,
        ui_post(lambda w: o("organization-delete", w), {"confirm": "Acme"}),
        api("delete", lambda w: f"/api/v1/orgs/{w.org.pk}"),
        lambda w: not Organization.objects.filter(pk=w.org.pk).exists(),
    ),
    Action(
        "change own password",
        Role.VIEWER,
        ui_post(
            lambda w: reverse("accounts:password-change"),
            {
                "old_password": PASSWORD,
                "new_password1": "new-phrase-4-all",
                "new_password2": "new-phrase-4-all",
            },
        ),
        None,
        lambda w: AuditEvent.objects.filter(action="user.password_change").exists(),
    ),
]


def alerts(w, suffix=""):
    return f"/api/v1/projects/{w.project.pk}/alerts{suffix}"


POLICY_BODY = {"name": "New policy", "kind": "log_count", "query": "level>=error"}


def policy_form(w, **changes):
    """The /manage/ policy form as a browser posts it."""
    form = {
        "project": w.project.pk,
        "name": "New policy",
        "description": "",
        "kind": "log_count",
        "spec": '{"query": "level>=error"}',
        "op": ">",
        "threshold": "0",
        "resolve_threshold": "",
        "window_seconds": "300",
        "for_seconds": "0",
        "keep_firing_for_seconds": "0",
        "interval_seconds": "60",
        "no_data": "keep_last",
        "on_error": "keep_last",
        "flap_stable_seconds": "600",
        "priority": "P3",
        "runbook_url": "",
        "labels": "{}",
        "enabled": "on",
    }
    form.update(changes)
    return form


ACTIONS += [
    Action(
        "view alert policies",
        Role.VIEWER,
        None,
        api("get", lambda w: alerts(w, "/policies")),
        None,
    ),
    Action(
        "view incidents",
        Role.VIEWER,
        ui_get(lambda w: f"/projects/{w.project.pk}/alerts/incidents/{w.incident.pk}/"),
        api("get", lambda w: alerts(w, f"/incidents/{w.incident.pk}")),
        None,
    ),
    Action(
        "preview a policy",
        Role.VIEWER,
        None,
        api("post", lambda w: alerts(w, f"/policies/{w.policy.pk}/preview"), {"start": "-10m"}),
        None,
    ),
    Action(
        "view the organization's incidents per project",
        Role.VIEWER,
        ui_get(lambda w: o("organization", w)),
        api("get", lambda w: f"/api/v1/orgs/{w.org.pk}/alerts/summary"),
        None,
    ),
    Action(
        "see which alerts are silenced or inhibited",
        Role.VIEWER,
        None,
        api("get", lambda w: alerts(w, "/quieted")),
        None,
    ),
    Action(
        "preview an unsaved policy",
        Role.VIEWER,
        ui_get(lambda w: f"/projects/{w.project.pk}/alerts/"),
        api("post", lambda w: alerts(w, "/preview"), {"policy": POLICY_BODY, "start": "-10m"}),
        None,
    ),
    Action(
        "create alert policy",
        Role.ADMIN,
        None,
        api("post", lambda w: alerts(w, "/policies"), POLICY_BODY),
        lambda w: Policy.objects.filter(name="New policy").exists(),
        ui_post(lambda w: m("alerts/policy/add/"), policy_form),
    ),
    Action(
        "change alert policy",
        Role.ADMIN,
        None,
        api("patch", lambda w: alerts(w, f"/policies/{w.policy.pk}"), {"name": "Renamed policy"}),
        lambda w: Policy.objects.filter(name="Renamed policy").exists(),
        ui_post(
            lambda w: m(f"alerts/policy/{w.policy.pk}/change/"),
            lambda w: policy_form(w, name="Renamed policy"),
        ),
    ),
    Action(
        "delete alert policy",
        Role.ADMIN,
        None,
        api("delete", lambda w: alerts(w, f"/policies/{w.policy.pk}")),
        lambda w: not Policy.objects.filter(pk=w.policy.pk).exists(),
        ui_post(lambda w: m(f"alerts/policy/{w.policy.pk}/delete/"), {"post": "yes"}),
    ),
    Action(
        "acknowledge incident",
        Role.MEMBER,
        None,
        api("post", lambda w: alerts(w, f"/incidents/{w.incident.pk}/ack")),
        lambda w: Incident.objects.get(pk=w.incident.pk).acknowledged_at is not None,
    ),
    Action(
        "resolve incident",
        Role.MEMBER,
        None,
        api("post", lambda w: alerts(w, f"/incidents/{w.incident.pk}/resolve")),
        lambda w: Incident.objects.get(pk=w.incident.pk).resolved_at is not None,
    ),
    Action(
        "create heartbeat",
        Role.ADMIN,
        None,
        api("post", lambda w: f"/api/v1/projects/{w.project.pk}/heartbeats", {"name": "cron"}),
        lambda w: Heartbeat.objects.filter(name="cron").exists(),
    ),
]


def channels(w, suffix=""):
    return f"/api/v1/orgs/{w.org.pk}/alerts/channels{suffix}"


def a_channel(w):
    from apps.notifications.channels import channel_create

    return channel_create(w.org, {"name": "ops", "kind": "email", "config": {"role": "admin"}}, actor=None)


def with_channel(method, suffix, data=None):
    def call(client, w):
        channel = a_channel(w)
        w.channel_id = channel.pk  # type: ignore[attr-defined]
        return api(method, lambda w: channels(w, suffix.format(id=channel.pk)), data)(client, w)

    return call


def channel_exists(name):
    def check(w):
        from apps.notifications.models import Channel

        return Channel.objects.filter(organization=w.org, name=name).exists()

    return check


def silences(w, suffix=""):
    return f"/api/v1/projects/{w.project.pk}/alerts/silences{suffix}"


def silence_exists(w):
    from apps.notifications.models import Silence

    return Silence.objects.filter(project=w.project, comment="drill").exists()


ACTIONS += [
    Action("view silences", Role.VIEWER, None, api("get", lambda w: silences(w)), None),
    Action(
        "create silence",
        Role.MEMBER,
        None,
        api(
            "post",
            lambda w: silences(w),
            {"matchers": [{"name": "host", "op": "=", "value": "db"}], "duration": "1h", "comment": "drill"},
        ),
        silence_exists,
    ),
    Action(
        "create maintenance window",
        Role.ADMIN,
        None,
        api(
            "post",
            lambda w: f"/api/v1/projects/{w.project.pk}/alerts/maintenance",
            {"name": "deploys", "weekdays": [5], "start_time": "23:00", "end_time": "02:00"},
        ),
        lambda w: w.project.maintenance_windows.exists(),
    ),
    Action(
        "view channels",
        Role.ADMIN,
        ui_get(lambda w: f"/orgs/{w.org.pk}/channels/"),
        api("get", lambda w: channels(w)),
        None,
    ),
    Action(
        "create channel",
        Role.ADMIN,
        ui_post(
            lambda w: f"/orgs/{w.org.pk}/channels/new/", {"name": "pager", "kind": "email", "target": "owner"}
        ),
        api("post", lambda w: channels(w), {"name": "pager", "kind": "email", "config": {"role": "owner"}}),
        channel_exists("pager"),
        ui_post(
            lambda w: m("notifications/channel/add/"),
            lambda w: {
                "organization": w.org.pk,
                "name": "pager",
                "kind": "email",
                "config": '{"role": "owner"}',
                "send_resolved": "on",
                "enabled": "on",
            },
        ),
    ),
    Action(
        "change channel",
        Role.ADMIN,
        None,
        with_channel("patch", "/{id}", {"name": "renamed channel"}),
        channel_exists("renamed channel"),
    ),
    Action(
        "delete channel",
        Role.ADMIN,
        None,
        with_channel("delete", "/{id}"),
        lambda w: not channel_exists("ops")(w),
    ),
    Action("send a test message", Role.ADMIN, None, with_channel("post", "/{id}/test"), None),
    Action("view a channel's deliveries", Role.ADMIN, None, with_channel("get", "/{id}/deliveries"), None),
    Action(
        "route alerts to a channel",
        Role.ADMIN,
        None,
        lambda client, w: client.post(
            f"/api/v1/orgs/{w.org.pk}/alerts/routes",
            {"channel_id": a_channel(w).pk, "priorities": ["P1"]},
            content_type="application/json",
        ),
        lambda w: w.org.alert_routes.exists(),
    ),
]

CASES = [
    pytest.param(action, role, surface, id=f"{action.name}-{role}-{surface}")
    for action in ACTIONS
    for role in ROLES
    for surface in ("ui", "api", "manage")
    if getattr(action, surface) is not None
]
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


@pytest.mark.parametrize(("action", "role", "surface"), CASES)
def test_role_may_or_may_not_do_action(action, role, surface, world, alice):
    if role == Role.OWNER:
        actor = alice
    else:
        actor = make_member(world.org, f"{role}@acme.test", role)
    client = client_for(actor)

    response = getattr(action, surface)(client, world)

    allowed = ROLE_RANK[role] >= ROLE_RANK[action.need]
    if allowed:
        assert response.status_code in (200, 201, 204, 302), response.content[:300]
        assert action.took_effect is None or action.took_effect(world)
    else:
        assert response.status_code == 403, response.content[:300]
        assert action.took_effect is None or not action.took_effect(world)
        if surface == "api":
            assert response.json()["error"]["code"] == "forbidden"
