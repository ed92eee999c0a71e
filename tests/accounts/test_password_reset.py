import re

from django.core import mail
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent


def test_password_reset_email_link_sets_a_new_password(client, alice):
    client.post(reverse("accounts:password-reset"), {"email": "alice@acme.test"})

    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "brand-new-passphrase-42",
            "new_password2": "brand-new-passphrase-42",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(pk=alice.pk).check_password("brand-new-passphrase-42")
    assert AuditEvent.objects.filter(action="user.password_reset", actor_email="alice@acme.test").count() == 1


def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.test"})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []
