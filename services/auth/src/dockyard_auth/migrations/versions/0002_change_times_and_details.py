# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a password or robot secret last changed; a tag's media type; the registry's request id of an activity.

Existing rows get their creation time as the last change, and empty strings
for what was not recorded before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_changed_at", sa.DateTime, nullable=True))
    op.execute("UPDATE users SET password_changed_at = created_at")
    op.alter_column("users", "password_changed_at", existing_type=sa.DateTime, nullable=False)
    op.add_column("robots", sa.Column("secret_changed_at", sa.DateTime, nullable=True))
    op.execute("UPDATE robots SET secret_changed_at = created_at")
    op.alter_column("robots", "secret_changed_at", existing_type=sa.DateTime, nullable=False)
    op.add_column("tags", sa.Column("media_type", sa.String(255), nullable=False, server_default=""))
    op.add_column("activities", sa.Column("request_id", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("activities", "request_id")
    op.drop_column("tags", "media_type")
    op.drop_column("robots", "secret_changed_at")
    op.drop_column("users", "password_changed_at")
