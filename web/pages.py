"""Serves the start page; the API documentation lives at /docs."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"


@router.get("/", response_class=HTMLResponse)
def start_page() -> str:
    return (TEMPLATES / "index.html").read_text(encoding="utf-8")
