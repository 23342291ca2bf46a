"""What other services may learn about a user through the internal API."""
from __future__ import annotations

from subscription_app.models import User


def user_summary(user: User) -> dict:
    return {
        "user_id": user.id,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "subscription": None,
    }
