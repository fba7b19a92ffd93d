# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failed and successful logins in the database, so that back-off is shared by every worker and server."""

import sqlalchemy as sa
from alembic import op

from dockyard_auth.database import PAD_SPACE_TABLE_OPTIONS as TABLE_OPTIONS

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("blocked_until_ms", sa.BigInteger, nullable=False),
        sa.Column("last_failure_ms", sa.BigInteger, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_login_failures_last_failure_ms", "login_failures", ["last_failure_ms"])
    op.create_table(
        "login_successes",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("last_success_ms", sa.BigInteger, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_login_successes_last_success_ms", "login_successes", ["last_success_ms"])


def downgrade() -> None:
    op.drop_table("login_successes")
    op.drop_table("login_failures")
