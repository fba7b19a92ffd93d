# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a registry event changes a tag, as a literal table of expected outcomes.

Every row was typed by hand from the rules in ``notifications.event_applies``:

1. An event older than the time of what set the tag (``tag_at``) leaves it
   alone, push or delete; a tag with no known time (None: no such tag, or one
   set before times were kept) takes any event.
2. A push older than the latest recorded delete of its tag, its digest or its
   repository (``deleted_at``) is left out; a delete ignores ``deleted_at``.
3. Equal times apply (the later arrival wins); the comparison is to the
   microsecond.
4. Only pushes and deletes change tags; any other action is a mistake.
"""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard_auth.notifications import event_applies

T0 = dt.datetime(2026, 11, 23, 10, 0, 0)
T1 = dt.datetime(2026, 11, 23, 10, 0, 1)
T1_5 = dt.datetime(2026, 11, 23, 10, 0, 1, 500000)
T1_000001 = dt.datetime(2026, 11, 23, 10, 0, 1, 1)
T2 = dt.datetime(2026, 11, 23, 10, 0, 2)

# (action, at, tag_at, deleted_at, applies)
TABLE = [
    # a push and the time of what set the tag
    ("push",   T1,        None,      None, True),
    ("push",   T1,        T0,        None, True),
    ("push",   T1,        T1,        None, True),
    ("push",   T1,        T2,        None, False),
    ("push",   T1,        T1_000001, None, False),
    ("push",   T1_000001, T1,        None, True),
    # a push and the latest delete of its tag, digest or repository
    ("push",   T1,        None,      T0,   True),
    ("push",   T1,        None,      T1,   True),
    ("push",   T1,        None,      T2,   False),
    ("push",   T1,        None,      T1_5, False),
    ("push",   T2,        T1,        T1_5, True),
    ("push",   T1,        T0,        T2,   False),
    ("push",   T1,        T2,        T0,   False),
    # a delete and the time of what set the tag
    ("delete", T1,        None,      None, True),
    ("delete", T1,        T0,        None, True),
    ("delete", T1,        T1,        None, True),
    ("delete", T1,        T2,        None, False),
    ("delete", T1,        T1_000001, None, False),
    ("delete", T1_5,      T1,        None, True),
    # a delete ignores earlier or later deletes
    ("delete", T1,        None,      T2,   True),
    ("delete", T1,        T0,        T2,   True),
    ("delete", T1,        T2,        T0,   False),
]  # fmt: skip


@pytest.mark.parametrize(("action", "at", "tag_at", "deleted_at", "applies"), TABLE)
def test_event_applies(action, at, tag_at, deleted_at, applies):
    assert event_applies(action, at, tag_at, deleted_at) is applies


@pytest.mark.parametrize("action", ["pull", "mount", "", "PUSH"])
def test_only_pushes_and_deletes_change_tags(action):
    with pytest.raises(ValueError, match="only a push or a delete changes a tag"):
        event_applies(action, T1, None, None)
