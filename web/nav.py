"""The staff pages in the menu, each with the permission (api/permissions.py) that opens it.

One table serves both the menu and the pages' own check (web/deps.page_for), so a page a role may not use is
neither linked for it nor opened when its address is typed in."""

from dataclasses import dataclass

from api.permissions import Permission, allows
from db.models import Role


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    permission: Permission


TODAY = Page("Today", "/today", Permission.BOOKINGS_READ)
CLIENTS = Page("Clients", "/clients", Permission.CLIENTS_READ)
BOOK_SERIES = Page("Book a series", "/series/new", Permission.BOOKINGS_WRITE)
DEVICES = Page("Devices", "/devices", Permission.RESOURCES_READ)
PROTOCOLS = Page("Protocols", "/protocols", Permission.PROTOCOLS_READ)
AUDIT = Page("Audit trail", "/audit", Permission.AUDIT_READ)
SETTINGS = Page("Clinic settings", "/settings", Permission.SETTINGS_WRITE)
MENU = (TODAY, CLIENTS, BOOK_SERIES, DEVICES, PROTOCOLS, AUDIT, SETTINGS)


def menu_for(role: Role) -> list[Page]:
    return [page for page in MENU if allows(role, page.permission)]
