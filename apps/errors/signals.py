"""What apps.errors tells other apps, without knowing them.

`issues_changed` is sent after a grouping batch has committed (apps.errors.grouper), once per batch
in which an issue was created, regressed or came back from ignored, with `project_id` and
`changes`, a frozenset of "new", "regressed" and "unignored". apps.alerts listens, so that a
"new issue" alert goes out when the issue appears rather than at the policy's next slot.
"""

from django.dispatch import Signal

issues_changed = Signal()
