# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A ``managed`` flag on users, teams, namespaces and robots.

Set by the tools that declare a resource (the dockyard.registry.registry_access
module, from an inventory), so that people and later tools can tell what is
declared elsewhere; the server itself does not act on it. Every row there is
gets false, and so does a row inserted without the column (by a server of the
version before, still running during an upgrade): the column keeps its
default.

Each table is changed by one ALTER TABLE, which MariaDB commits on its own
(DDL is not transactional), so every step is written to be run again: after a
run that stopped part-way, ``dockyard-auth migrate`` finishes the job. The
downgrade drops the column, and with it the flags.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The tables of what an inventory declares, in the order they are changed (and changed back).
TABLES = ("users", "teams", "namespaces", "robots")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS managed BOOLEAN NOT NULL DEFAULT 0")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS managed")
