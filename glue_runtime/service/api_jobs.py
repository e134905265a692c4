"""Routes (to be written; see app.py ROUTERS)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
