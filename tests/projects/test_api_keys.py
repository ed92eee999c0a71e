import logging
import re

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.projects import keyformat
from apps.projects.authentication import authenticate_key
from apps.projects.models import ApiKey, KeyScope

SECRET_RE = re.compile(r"vgl_(?:ingest|read)_[0-9A-Za-z]{36}")


def create_key(client, project, scope=KeyScope.READ, name="ci"):
    response = client.post(reverse("projects:key-new", args=[project.pk]), {"scope": scope, "name": name})
    return response, SECRET_RE.search(response.content.decode()).group(0)


def read_project(client, project, secret):
    return client.get(f"/api/v1/projects/{project.pk}", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_secret_is_shown_once_and_only_its_hash_is_stored(alice_client, org_a):
    response, secret = create_key(alice_client, org_a.project)

    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(name="ci")
    assert key.secret_hash == keyformat.hash_secret(secret)
    assert secret not in {key.prefix, key.secret_hash, key.last_four}
    page = alice_client.get(reverse("projects:project-settings", args=[org_a.project.pk])).content.decode()
    assert secret not in page
    assert f"{key.prefix}…{secret[-4:]}" in page


def test_keys_carry_a_typed_prefix_a_checksum_and_enough_randomness(db):
    secret = keyformat.generate(KeyScope.INGEST)

    assert secret.startswith("vgl_ingest_")
    assert keyformat.is_well_formed(secret)
    assert keyformat.RANDOM_LENGTH * 5.95 >= 128  # log2(62) ≈ 5.95 bits per character
    typo = secret[:-8] + ("A" if secret[-8] != "A" else "B") + secret[-7:]
    assert not keyformat.is_well_formed(typo)


def test_a_revoked_key_fails_on_the_next_request(alice_client, client, org_a):
    _, secret = create_key(alice_client, org_a.project)
    assert read_project(client, org_a.project, secret).status_code == 200  # now cached in this process

    key = ApiKey.objects.get(name="ci")
    alice_client.post(reverse("projects:key-revoke", args=[org_a.project.pk, key.pk]))
    response = read_project(client, org_a.project, secret)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_revocation_elsewhere_reaches_a_process_that_cached_the_key(org_a):
    assert authenticate_key(org_a.read_key) is not None
    # Another process revokes: the row changes and the shared epoch moves, our local cache does not.
    from django.utils import timezone

    from apps.projects.authentication import publish_revocation

    ApiKey.objects.filter(prefix=keyformat.public_prefix(org_a.read_key)).update(revoked_at=timezone.now())
    publish_revocation()

    assert authenticate_key(org_a.read_key) is None


def test_unknown_and_malformed_keys_are_401_and_missing_credentials_too(client, org_a):
    forged = keyformat.generate(KeyScope.READ)
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {forged}"}, {"HTTP_X_API_KEY": "vgl_read_nonsense"}, {}):
        response = client.get(f"/api/v1/projects/{org_a.project.pk}", **headers)
        assert response.status_code == 401, headers
        assert "error" in response.json()


def test_x_api_key_header_works_like_bearer(client, org_a):
    response = client.get(f"/api/v1/projects/{org_a.project.pk}", HTTP_X_API_KEY=org_a.read_key)

    assert response.status_code == 200
    assert response.json()["name"] == org_a.project.name


def test_an_ingest_key_cannot_read(client, org_a):
    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}", HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}"
    )

    assert response.status_code == 403


def test_the_listing_shows_prefix_scope_creator_and_last_use_but_never_the_secret(
    alice_client, client, org_a
):
    read_project(client, org_a.project, org_a.read_key)

    keys = alice_client.get(f"/api/v1/projects/{org_a.project.pk}/keys").json()

    read = next(k for k in keys if k["scope"] == "read")
    assert read["created_by"] == "alice@acme.test"
    assert read["last_used_at"] is not None
    assert read["masked"].endswith(org_a.read_key[-4:])
    assert org_a.read_key not in str(keys)


def test_the_secret_never_reaches_logs_or_the_audit_trail(alice_client, client, org_a, caplog):
    caplog.set_level(logging.DEBUG)
    _, secret = create_key(alice_client, org_a.project)
    read_project(client, org_a.project, secret)
    client.get(f"/api/v1/projects/{org_a.project.pk}", HTTP_AUTHORIZATION=f"Bearer {secret[:-1]}x")
    key = ApiKey.objects.get(name="ci")
    alice_client.post(reverse("projects:key-revoke", args=[org_a.project.pk, key.pk]))
    read_project(client, org_a.project, secret)

    assert secret not in caplog.text
    assert not any(secret in str(e.changes) + e.target_repr for e in AuditEvent.objects.all())


def test_the_api_returns_the_secret_once_on_creation(alice_client, org_a):
    response = alice_client.post(
        f"/api/v1/projects/{org_a.project.pk}/keys",
        {"scope": "ingest", "name": "api"},
        content_type="application/json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("vgl_ingest_")
    listing = alice_client.get(f"/api/v1/projects/{org_a.project.pk}/keys").json()
    assert body["secret"] not in str(listing)


def test_unknown_scope_is_rejected_with_a_clear_error(alice_client, org_a):
    response = alice_client.post(
        f"/api/v1/projects/{org_a.project.pk}/keys", {"scope": "admin"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "scope" in response.json()["error"]["details"]
