# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The first schema: accounts, teams, namespaces, robots, repositories, tags, activities."""

import sqlalchemy as sa
from alembic import op

from dockyard_auth.database import PAD_SPACE_TABLE_OPTIONS as TABLE_OPTIONS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "robots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("api_admin", sa.Boolean, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "robot_permissions",
        sa.Column("robot_id", sa.Integer, sa.ForeignKey("robots.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("namespace_id", sa.Integer, sa.ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("actions", sa.String(32), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("repository_id", "name", name="uq_tags_repository_name"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "activities",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(128), nullable=True),
        sa.Column("digest", sa.String(160), nullable=True),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("source_addr", sa.String(255), nullable=False),
        sa.Column("source_instance", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_activities_occurred_at", "activities", ["occurred_at"])
    # The global namespace (names without '/'): admins push, logged-in users pull.
    op.execute(
        "INSERT INTO namespaces (name, kind, visibility, description, created_at) "
        "VALUES ('', 'global', 'protected', 'repositories without a namespace', UTC_TIMESTAMP())"
    )


def downgrade() -> None:
    for table in (
        "activities",
        "tags",
        "repositories",
        "robot_permissions",
        "robots",
        "namespaces",
        "team_members",
        "teams",
        "users",
    ):
        op.drop_table(table)
