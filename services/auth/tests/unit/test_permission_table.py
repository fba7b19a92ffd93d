# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The permission model as a literal table of expected outcomes.

Every row below was typed by hand from the rules (Portus's model) listed here;
none is computed by a loop or by calling the code under test. The rules:

1. Subjects: anonymous (no credentials), user (regular), admin (a user with
   ``admin=True``), robot (CI account), sync (the server's own account).
2. Namespace kinds: global (repositories without '/'), personal
   (``<user>/...``, owned by that user), team (owned by a team). A namespace
   may not exist (``NamespaceView`` is ``None``; "none" in the table).
3. Visibility: public = anyone, anonymous too, may pull; protected = any
   logged-in user or robot may pull; private = only those given access below.
4. Admins may pull, push and delete everywhere, in namespaces that exist or not.
5. The sync account: pull only, everywhere (even non-existent namespaces), and
   the catalog.
6. Nobody except admins and sync gets anything in a namespace that does not exist.
7. A user's own personal namespace: pull and delete always; push unless the push
   policy is admin-only. Another user's personal namespace: only what the
   visibility gives.
8. Team namespace, by the user's role in the owning team: viewer pulls;
   contributor pulls, pushes only under allow-teams, deletes only under the
   delete policy contributors; owner pulls, pushes only under allow-teams,
   deletes always. Non-members: only what the visibility gives.
9. Global namespace: regular users only get what the visibility gives (no push,
   no delete, even with a role value set).
10. Robots: what the visibility gives a logged-in caller plus exactly their
    explicit grants on the namespace, whatever the policies; roles and
    ``is_owner`` do not apply to robots; unknown action names are ignored.
11. Anonymous: only public pull.
12. ``catalog_allowed``: only admins and sync.
13. ``grant(requested, allowed)``: sorted requested ∩ allowed; '*' asks for
    pull, push and delete; granted as ['*'] when all three are allowed,
    otherwise as the allowed ones among the three; unknown actions are dropped.
"""

# The tables keep one case per line, aligned in columns, which is wider than 120.
# ruff: noqa: E501

from __future__ import annotations

import pytest

from dockyard_auth.permissions import (
    ANONYMOUS,
    SYNC,
    DeletePolicy,
    NamespaceKind,
    NamespaceView,
    Policy,
    PushPolicy,
    Role,
    Subject,
    SubjectKind,
    Visibility,
    allowed_actions,
    catalog_allowed,
    grant,
)

ALL = "pull,push,delete"

# fmt: off
PERMISSIONS = [
    # subject,    ns kind,    visibility,  role,          owner, robot grants,       push policy,      delete policy,  expected
    # --- anonymous: only public pull (rules 3, 6, 11) ---
    ("anonymous", "none",     "-",         "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "global",   "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "global",   "protected", "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "global",   "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("anonymous", "personal", "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "personal", "protected", "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "personal", "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("anonymous", "team",     "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "team",     "protected", "",            False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "team",     "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("anonymous", "team",     "private",   "owner",       False, "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "team",     "public",    "owner",       False, "push",             "allow-teams",    "contributors", "pull"),
    ("anonymous", "personal", "private",   "",            True,  "",                 "allow-teams",    "owners",       ""),
    ("anonymous", "personal", "public",    "",            True,  "",                 "allow-personal", "owners",       "pull"),
    ("anonymous", "team",     "private",   "",            False, ALL,                "allow-teams",    "owners",       ""),
    ("anonymous", "global",   "protected", "",            False, "",                 "admin-only",     "contributors", ""),
    ("anonymous", "none",     "-",         "",            False, "",                 "admin-only",     "contributors", ""),

    # --- sync: pull only, everywhere (rule 5) ---
    ("sync",      "none",     "-",         "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "global",   "private",   "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "global",   "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "global",   "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "personal", "private",   "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "personal", "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "personal", "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "team",     "private",   "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "team",     "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "team",     "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("sync",      "team",     "private",   "owner",       False, "",                 "allow-teams",    "contributors", "pull"),
    ("sync",      "team",     "private",   "",            False, "push,delete",      "allow-teams",    "owners",       "pull"),
    ("sync",      "personal", "private",   "",            True,  "",                 "admin-only",     "owners",       "pull"),
    ("sync",      "none",     "-",         "",            False, "",                 "admin-only",     "contributors", "pull"),

    # --- admin: everything, everywhere (rule 4) ---
    ("admin",     "none",     "-",         "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "global",   "private",   "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "global",   "protected", "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "global",   "public",    "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "personal", "private",   "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "personal", "protected", "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "personal", "public",    "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "team",     "protected", "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "team",     "public",    "",            False, "",                 "allow-teams",    "owners",       ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "allow-teams",    "contributors", ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "allow-personal", "owners",       ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "allow-personal", "contributors", ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "admin-only",     "owners",       ALL),
    ("admin",     "team",     "private",   "",            False, "",                 "admin-only",     "contributors", ALL),
    ("admin",     "global",   "private",   "",            False, "",                 "admin-only",     "owners",       ALL),
    ("admin",     "global",   "private",   "",            False, "",                 "allow-personal", "contributors", ALL),
    ("admin",     "personal", "private",   "",            False, "",                 "admin-only",     "owners",       ALL),
    ("admin",     "personal", "private",   "",            True,  "",                 "admin-only",     "owners",       ALL),
    ("admin",     "none",     "-",         "",            False, "",                 "admin-only",     "owners",       ALL),
    ("admin",     "none",     "-",         "",            False, "",                 "allow-personal", "contributors", ALL),
    ("admin",     "none",     "-",         "",            False, "",                 "admin-only",     "contributors", ALL),
    ("admin",     "team",     "private",   "viewer",      False, "",                 "admin-only",     "owners",       ALL),
    ("admin",     "team",     "private",   "",            False, "pull",             "allow-teams",    "owners",       ALL),

    # --- user, namespace does not exist (rule 6) ---
    ("user",      "none",     "-",         "",            False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "none",     "-",         "",            False, "",                 "allow-teams",    "contributors", ""),
    ("user",      "none",     "-",         "",            False, "",                 "admin-only",     "contributors", ""),

    # --- user, global namespace: visibility only, roles ignored (rules 3, 9) ---
    ("user",      "global",   "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "global",   "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "private",   "viewer",      False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "global",   "protected", "viewer",      False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "public",    "viewer",      False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "private",   "contributor", False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "global",   "protected", "contributor", False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "public",    "contributor", False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "private",   "owner",       False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "global",   "protected", "owner",       False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "public",    "owner",       False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "global",   "private",   "owner",       False, "",                 "allow-teams",    "contributors", ""),
    ("user",      "global",   "public",    "contributor", False, "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "global",   "private",   "",            True,  "",                 "allow-teams",    "owners",       ""),
    ("user",      "global",   "protected", "",            True,  "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "global",   "private",   "",            False, "push,delete",      "allow-teams",    "contributors", ""),

    # --- user, somebody else's personal namespace: visibility only (rule 7) ---
    ("user",      "personal", "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "personal", "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "personal", "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "personal", "private",   "owner",       False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "personal", "protected", "owner",       False, "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "personal", "public",    "contributor", False, "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "personal", "private",   "",            False, "",                 "allow-personal", "contributors", ""),
    ("user",      "personal", "public",    "",            False, "",                 "allow-personal", "owners",       "pull"),
    ("user",      "personal", "private",   "",            False, ALL,                "allow-teams",    "owners",       ""),

    # --- user, own personal namespace: pull, delete; push unless admin-only (rule 7) ---
    ("user",      "personal", "private",   "",            True,  "",                 "allow-teams",    "owners",       ALL),
    ("user",      "personal", "private",   "",            True,  "",                 "allow-teams",    "contributors", ALL),
    ("user",      "personal", "private",   "",            True,  "",                 "allow-personal", "owners",       ALL),
    ("user",      "personal", "private",   "",            True,  "",                 "allow-personal", "contributors", ALL),
    ("user",      "personal", "private",   "",            True,  "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "personal", "private",   "",            True,  "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "personal", "protected", "",            True,  "",                 "allow-teams",    "owners",       ALL),
    ("user",      "personal", "protected", "",            True,  "",                 "allow-teams",    "contributors", ALL),
    ("user",      "personal", "protected", "",            True,  "",                 "allow-personal", "owners",       ALL),
    ("user",      "personal", "protected", "",            True,  "",                 "allow-personal", "contributors", ALL),
    ("user",      "personal", "protected", "",            True,  "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "personal", "protected", "",            True,  "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "personal", "public",    "",            True,  "",                 "allow-teams",    "owners",       ALL),
    ("user",      "personal", "public",    "",            True,  "",                 "allow-teams",    "contributors", ALL),
    ("user",      "personal", "public",    "",            True,  "",                 "allow-personal", "owners",       ALL),
    ("user",      "personal", "public",    "",            True,  "",                 "allow-personal", "contributors", ALL),
    ("user",      "personal", "public",    "",            True,  "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "personal", "public",    "",            True,  "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "personal", "private",   "viewer",      True,  "",                 "allow-teams",    "owners",       ALL),
    ("user",      "personal", "private",   "viewer",      True,  "",                 "admin-only",     "owners",       "pull,delete"),

    # --- user, team namespace, not a member: visibility only (rule 8) ---
    ("user",      "team",     "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("user",      "team",     "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "private",   "",            False, "",                 "allow-teams",    "contributors", ""),
    ("user",      "team",     "private",   "",            False, "",                 "allow-personal", "contributors", ""),
    ("user",      "team",     "public",    "",            False, "",                 "admin-only",     "contributors", "pull"),
    ("user",      "team",     "private",   "",            True,  "",                 "allow-teams",    "owners",       ""),
    ("user",      "team",     "protected", "",            True,  "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "team",     "public",    "",            True,  "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "private",   "",            False, "push,delete",      "allow-teams",    "contributors", ""),

    # --- user, team viewer: pull, whatever the policies (rule 8) ---
    ("user",      "team",     "private",   "viewer",      False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "protected", "viewer",      False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "public",    "viewer",      False, "",                 "allow-teams",    "owners",       "pull"),
    ("user",      "team",     "private",   "viewer",      False, "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "team",     "private",   "viewer",      False, "",                 "allow-personal", "owners",       "pull"),
    ("user",      "team",     "private",   "viewer",      False, "",                 "allow-personal", "contributors", "pull"),
    ("user",      "team",     "private",   "viewer",      False, "",                 "admin-only",     "owners",       "pull"),
    ("user",      "team",     "private",   "viewer",      False, "",                 "admin-only",     "contributors", "pull"),
    ("user",      "team",     "public",    "viewer",      False, "",                 "allow-teams",    "contributors", "pull"),
    ("user",      "team",     "private",   "viewer",      True,  "",                 "allow-teams",    "contributors", "pull"),

    # --- user, team contributor: push under allow-teams, delete under contributors (rule 8) ---
    ("user",      "team",     "private",   "contributor", False, "",                 "allow-teams",    "owners",       "pull,push"),
    ("user",      "team",     "private",   "contributor", False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "private",   "contributor", False, "",                 "allow-personal", "owners",       "pull"),
    ("user",      "team",     "private",   "contributor", False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "private",   "contributor", False, "",                 "admin-only",     "owners",       "pull"),
    ("user",      "team",     "private",   "contributor", False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "protected", "contributor", False, "",                 "allow-teams",    "owners",       "pull,push"),
    ("user",      "team",     "protected", "contributor", False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "protected", "contributor", False, "",                 "allow-personal", "owners",       "pull"),
    ("user",      "team",     "protected", "contributor", False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "protected", "contributor", False, "",                 "admin-only",     "owners",       "pull"),
    ("user",      "team",     "protected", "contributor", False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "public",    "contributor", False, "",                 "allow-teams",    "owners",       "pull,push"),
    ("user",      "team",     "public",    "contributor", False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "public",    "contributor", False, "",                 "allow-personal", "owners",       "pull"),
    ("user",      "team",     "public",    "contributor", False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "public",    "contributor", False, "",                 "admin-only",     "owners",       "pull"),
    ("user",      "team",     "public",    "contributor", False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "private",   "contributor", True,  "",                 "allow-personal", "owners",       "pull"),
    ("user",      "team",     "private",   "contributor", False, "push,delete",      "admin-only",     "owners",       "pull"),

    # --- user, team owner: push under allow-teams, delete always (rule 8) ---
    ("user",      "team",     "private",   "owner",       False, "",                 "allow-teams",    "owners",       ALL),
    ("user",      "team",     "private",   "owner",       False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "private",   "owner",       False, "",                 "allow-personal", "owners",       "pull,delete"),
    ("user",      "team",     "private",   "owner",       False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "private",   "owner",       False, "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "team",     "private",   "owner",       False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "protected", "owner",       False, "",                 "allow-teams",    "owners",       ALL),
    ("user",      "team",     "protected", "owner",       False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "protected", "owner",       False, "",                 "allow-personal", "owners",       "pull,delete"),
    ("user",      "team",     "protected", "owner",       False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "protected", "owner",       False, "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "team",     "protected", "owner",       False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "public",    "owner",       False, "",                 "allow-teams",    "owners",       ALL),
    ("user",      "team",     "public",    "owner",       False, "",                 "allow-teams",    "contributors", ALL),
    ("user",      "team",     "public",    "owner",       False, "",                 "allow-personal", "owners",       "pull,delete"),
    ("user",      "team",     "public",    "owner",       False, "",                 "allow-personal", "contributors", "pull,delete"),
    ("user",      "team",     "public",    "owner",       False, "",                 "admin-only",     "owners",       "pull,delete"),
    ("user",      "team",     "public",    "owner",       False, "",                 "admin-only",     "contributors", "pull,delete"),
    ("user",      "team",     "private",   "owner",       True,  "",                 "admin-only",     "owners",       "pull,delete"),

    # --- robot, global namespace: logged-in visibility + explicit grants (rule 10) ---
    ("robot",     "global",   "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "global",   "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "private",   "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "protected", "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "public",    "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "private",   "",            False, "push",             "allow-teams",    "owners",       "push"),
    ("robot",     "global",   "protected", "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "global",   "public",    "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "global",   "private",   "",            False, "push,delete",      "allow-teams",    "owners",       "push,delete"),
    ("robot",     "global",   "protected", "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "global",   "public",    "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "global",   "private",   "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "global",   "protected", "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "global",   "public",    "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "global",   "private",   "",            False, "bogus",            "allow-teams",    "owners",       ""),
    ("robot",     "global",   "protected", "",            False, "bogus",            "allow-teams",    "owners",       "pull"),
    ("robot",     "global",   "public",    "",            False, "bogus",            "allow-teams",    "owners",       "pull"),

    # --- robot, personal namespace (rule 10) ---
    ("robot",     "personal", "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "personal", "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "private",   "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "protected", "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "public",    "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "private",   "",            False, "push",             "allow-teams",    "owners",       "push"),
    ("robot",     "personal", "protected", "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "personal", "public",    "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "personal", "private",   "",            False, "push,delete",      "allow-teams",    "owners",       "push,delete"),
    ("robot",     "personal", "protected", "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "personal", "public",    "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "personal", "private",   "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "personal", "protected", "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "personal", "public",    "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "personal", "private",   "",            False, "bogus",            "allow-teams",    "owners",       ""),
    ("robot",     "personal", "protected", "",            False, "bogus",            "allow-teams",    "owners",       "pull"),
    ("robot",     "personal", "public",    "",            False, "bogus",            "allow-teams",    "owners",       "pull"),

    # --- robot, team namespace (rule 10) ---
    ("robot",     "team",     "private",   "",            False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "team",     "protected", "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "public",    "",            False, "",                 "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "private",   "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "protected", "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "public",    "",            False, "pull",             "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "private",   "",            False, "push",             "allow-teams",    "owners",       "push"),
    ("robot",     "team",     "protected", "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "team",     "public",    "",            False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot",     "team",     "private",   "",            False, "push,delete",      "allow-teams",    "owners",       "push,delete"),
    ("robot",     "team",     "protected", "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "team",     "public",    "",            False, "push,delete",      "allow-teams",    "owners",       ALL),
    ("robot",     "team",     "private",   "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "team",     "protected", "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "team",     "public",    "",            False, ALL,                "allow-teams",    "owners",       ALL),
    ("robot",     "team",     "private",   "",            False, "bogus",            "allow-teams",    "owners",       ""),
    ("robot",     "team",     "protected", "",            False, "bogus",            "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "public",    "",            False, "bogus",            "allow-teams",    "owners",       "pull"),

    # --- robot, odd grants: only pull/push/delete count (rule 10) ---
    ("robot",     "team",     "private",   "",            False, "delete",           "allow-teams",    "owners",       "delete"),
    ("robot",     "team",     "private",   "",            False, "*",                "allow-teams",    "owners",       ""),
    ("robot",     "team",     "protected", "",            False, "*",                "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "private",   "",            False, "pull,bogus",       "allow-teams",    "owners",       "pull"),
    ("robot",     "team",     "private",   "",            False, "push,bogus",       "allow-teams",    "owners",       "push"),
    ("robot",     "team",     "public",    "",            False, "delete,bogus",     "allow-teams",    "owners",       "pull,delete"),
    ("robot",     "team",     "private",   "",            False, "PUSH",             "allow-teams",    "owners",       ""),
    ("robot",     "global",   "private",   "",            False, "pull,delete",      "allow-teams",    "owners",       "pull,delete"),

    # --- robot, grants hold whatever the policies (rule 10) ---
    ("robot",     "team",     "private",   "",            False, "push,delete",      "allow-teams",    "contributors", "push,delete"),
    ("robot",     "team",     "private",   "",            False, "push,delete",      "allow-personal", "owners",       "push,delete"),
    ("robot",     "team",     "private",   "",            False, "push,delete",      "allow-personal", "contributors", "push,delete"),
    ("robot",     "team",     "private",   "",            False, "push,delete",      "admin-only",     "owners",       "push,delete"),
    ("robot",     "team",     "private",   "",            False, "push,delete",      "admin-only",     "contributors", "push,delete"),
    ("robot",     "team",     "protected", "",            False, "push",             "admin-only",     "owners",       "pull,push"),
    ("robot",     "personal", "private",   "",            False, "push",             "admin-only",     "owners",       "push"),
    ("robot",     "global",   "private",   "",            False, "push,delete",      "admin-only",     "owners",       "push,delete"),
    ("robot",     "team",     "private",   "",            False, "",                 "admin-only",     "contributors", ""),
    ("robot",     "team",     "protected", "",            False, "",                 "allow-personal", "contributors", "pull"),

    # --- robot, roles and ownership do not apply (rule 10) ---
    ("robot",     "team",     "private",   "owner",       False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "team",     "protected", "owner",       False, "",                 "allow-teams",    "contributors", "pull"),
    ("robot",     "team",     "private",   "contributor", False, "",                 "allow-teams",    "contributors", ""),
    ("robot",     "team",     "private",   "viewer",      False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "team",     "private",   "contributor", False, "pull",             "allow-teams",    "contributors", "pull"),
    ("robot",     "personal", "private",   "",            True,  "",                 "allow-teams",    "owners",       ""),
    ("robot",     "personal", "private",   "",            True,  "",                 "admin-only",     "owners",       ""),
    ("robot",     "personal", "protected", "",            True,  "delete",           "allow-teams",    "owners",       "pull,delete"),

    # --- robot, namespace does not exist (rule 6) ---
    ("robot",     "none",     "-",         "",            False, "",                 "allow-teams",    "owners",       ""),
    ("robot",     "none",     "-",         "",            False, "",                 "admin-only",     "contributors", ""),

    # --- a robot carrying admin=True is still a robot, not an admin (rules 1, 4, 10) ---
    ("robot-admin-flag", "team",   "private",   "",       False, "",                 "allow-teams",    "owners",       ""),
    ("robot-admin-flag", "team",   "protected", "",       False, "push",             "allow-teams",    "owners",       "pull,push"),
    ("robot-admin-flag", "none",   "-",         "",       False, "",                 "allow-teams",    "owners",       ""),
]
# fmt: on

# fmt: off
CATALOG = [
    # subject,            expected
    ("anonymous",         False),
    ("user",              False),
    ("user-named-sync",   False),
    ("admin",             True),
    ("robot",             False),
    ("robot-admin-flag",  False),
    ("sync",              True),
]
# fmt: on

# fmt: off
GRANTS = [
    # requested,                       allowed,                 expected
    (("pull",),                        "pull",                  ["pull"]),
    (("pull", "push"),                 "pull",                  ["pull"]),
    (("push", "pull"),                 ALL,                     ["pull", "push"]),
    (("delete", "push", "pull"),       ALL,                     ["delete", "pull", "push"]),
    (("push",),                        "pull",                  []),
    (("delete",),                      "pull,delete",           ["delete"]),
    (("*",),                           ALL,                     ["*"]),
    (("*",),                           "pull",                  ["pull"]),
    (("*",),                           "pull,push",             ["pull", "push"]),
    (("*",),                           "push,delete",           ["delete", "push"]),
    (("*",),                           "",                      []),
    (("*", "pull"),                    ALL,                     ["*"]),
    (("*", "pull"),                    "pull,delete",           ["delete", "pull"]),
    (("*", "*"),                       ALL,                     ["*"]),
    (("*", "bogus"),                   ALL,                     ["*"]),
    (("*", "bogus"),                   "pull",                  ["pull"]),
    ((),                               ALL,                     []),
    ((),                               "",                      []),
    (("pull", "pull"),                 "pull",                  ["pull"]),
    (("push", "pull", "push", "pull"), ALL,                     ["pull", "push"]),
    (("bogus",),                       ALL,                     []),
    (("pull", "bogus"),                "pull",                  ["pull"]),
    (("PULL",),                        ALL,                     []),
    (("",),                            ALL,                     []),
    (("pull", "push", "delete"),       "",                      []),
    (frozenset({"pull", "push"}),      "push",                  ["push"]),
    (frozenset({"*"}),                 ALL,                     ["*"]),
]
# fmt: on


def subject(name: str) -> Subject:
    """The subject a table row names."""
    return {
        "anonymous": ANONYMOUS,
        "user": Subject(SubjectKind.USER, name="alice"),
        "user-named-sync": Subject(SubjectKind.USER, name=SYNC.name),
        "admin": Subject(SubjectKind.USER, name="root", admin=True),
        "robot": Subject(SubjectKind.ROBOT, name="ci"),
        "robot-admin-flag": Subject(SubjectKind.ROBOT, name="ci", admin=True),
        "sync": SYNC,
    }[name]


def actions(text: str) -> frozenset[str]:
    """ "pull,push" -> frozenset({"pull", "push"}); "" -> frozenset()."""
    return frozenset(text.split(",")) if text else frozenset()


def namespace(kind: str, visibility: str, role: str, owner: bool, grants: str) -> NamespaceView | None:
    """The namespace a table row describes; kind "none" is a namespace that does not exist."""
    if kind == "none":
        return None
    return NamespaceView(
        kind=NamespaceKind(kind),
        visibility=Visibility(visibility),
        role=Role(role) if role else None,
        is_owner=owner,
        robot_actions=actions(grants),
    )


def policy(push: str, delete: str) -> Policy:
    return Policy(push=PushPolicy(push), delete=DeletePolicy(delete))


def row_id(row: tuple) -> str:
    subj, kind, visibility, role, owner, grants, push, delete, _expected = row
    return "-".join(
        [
            subj,
            kind,
            visibility,
            role or "norole",
            "own" if owner else "notown",
            f"grants[{grants}]",
            push,
            f"del-{delete}",
        ]
    )


@pytest.mark.parametrize("row", PERMISSIONS, ids=[row_id(row) for row in PERMISSIONS])
def test_allowed_actions(row: tuple) -> None:
    subj, kind, visibility, role, owner, grants, push, delete, expected = row
    got = allowed_actions(subject(subj), namespace(kind, visibility, role, owner, grants), policy(push, delete))
    assert got == actions(expected)


@pytest.mark.parametrize(("name", "expected"), CATALOG, ids=[name for name, _ in CATALOG])
def test_catalog_allowed(name: str, expected: bool) -> None:
    assert catalog_allowed(subject(name)) is expected


@pytest.mark.parametrize(
    ("requested", "allowed", "expected"),
    GRANTS,
    ids=[f"{','.join(sorted(req)) or 'nothing'}-from-{allowed or 'nothing'}" for req, allowed, _ in GRANTS],
)
def test_grant(requested: tuple[str, ...] | frozenset[str], allowed: str, expected: list[str]) -> None:
    assert grant(requested, actions(allowed)) == expected


def test_table_has_no_duplicate_rows() -> None:
    keys = [row[:-1] for row in PERMISSIONS]
    assert len(keys) == len(set(keys))


def test_table_covers_every_subject_kind_and_visibility() -> None:
    """A check on the table itself: each subject meets each namespace kind in each visibility."""
    present = {(row[0], row[1], row[2]) for row in PERMISSIONS}
    for subj in ("anonymous", "user", "admin", "robot", "sync"):
        assert (subj, "none", "-") in present
        for kind in ("global", "personal", "team"):
            for visibility in ("private", "protected", "public"):
                assert (subj, kind, visibility) in present


def test_table_covers_every_policy_where_policies_matter() -> None:
    """A check on the table itself: every push x delete policy for the cases the policies could change."""
    present = {(row[0], row[1], row[3], row[4], row[6], row[7]) for row in PERMISSIONS}
    cases = [
        ("user", "team", "contributor", False),
        ("user", "team", "owner", False),
        ("user", "team", "viewer", False),
        ("user", "personal", "", True),
        ("admin", "team", "", False),
    ]
    for push in ("allow-teams", "allow-personal", "admin-only"):
        for delete in ("owners", "contributors"):
            for case in cases:
                assert (*case, push, delete) in present
    robot = {(row[6], row[7]) for row in PERMISSIONS if row[0] == "robot" and row[5]}
    assert len(robot) == 6
