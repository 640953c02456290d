"""Audit trail entries."""

import uuid
from datetime import datetime
from typing import Any

from api.schemas.common import Output


class AuditEventRead(Output):
    id: int
    at: datetime
    user_id: uuid.UUID | None
    action: str
    record_type: str | None
    record_id: str | None
    record_ids: list[str] | None  # a list or search read: every record it returned (record_id is then empty)
    ip_address: str | None
    user_agent: str | None
    detail: dict[str, Any] | None
