"""/v1/auth: register, login, me, change-password, refresh, logout."""
from flask_jwt_extended import jwt_required

from core import ratelimit
from core.blueprint import Blueprint
from core.ratelimit import limiter
from subscription_app import accounts
from subscription_app.schemas import (ChangePasswordSchema, LoginSchema, LogoutSchema, MeSchema,
                                      RegisterResponseSchema, RegisterSchema, TokenSchema)

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Registration, login and tokens")
BEARER = [{"bearerAuth": []}]


@blp.route("/register", methods=["POST"])
@limiter.limit(ratelimit.login_ip_limit, key_func=ratelimit.client_ip, scope="register-ip")
@blp.arguments(RegisterSchema)
@blp.response(201, RegisterResponseSchema)
@blp.alt_response(409, description="Email already registered")
def register(data):
    """Create an account and return its first token pair."""
    user = accounts.register(**data)
    return {**accounts.issue_tokens(user), "user": user}


@blp.route("/login", methods=["POST"])
# Shared with the /admin sign-in page: one budget of guesses per account and IP, whichever door is used.
@limiter.shared_limit(ratelimit.login_ip_limit, "login-ip", key_func=ratelimit.client_ip)
@limiter.shared_limit(ratelimit.login_account_limit, "login-account", key_func=ratelimit.account_key)
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Invalid email or password")
@blp.alt_response(429, description="Too many attempts; see Retry-After")
def login(data):
    """Exchange email and password for an access and a refresh token."""
    user = accounts.authenticate(data["email"], data["password"])
    return accounts.issue_tokens(user)


@blp.route("/me")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, MeSchema)
def me():
    """The authenticated user, with the credit balance held per currency."""
    return accounts.me()


@blp.route("/change-password", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ChangePasswordSchema)
@blp.response(200, TokenSchema)
def change_password(data):
    """Change the password; every earlier token stops working, a new pair is returned."""
    return accounts.change_password(accounts.current_user(), data["current_password"], data["new_password"])


@blp.route("/refresh", methods=["POST"])
@jwt_required(refresh=True)
@blp.doc(security=BEARER, description="Send the refresh token as the Bearer token.")
@blp.response(200, TokenSchema)
def refresh():
    """Rotate a refresh token: the old one is used up, a new pair is returned.

    Presenting a refresh token that was already rotated revokes every token of its login."""
    return accounts.refresh_tokens()


@blp.route("/logout", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(LogoutSchema, required=False)
@blp.response(204)
@blp.alt_response(422, description="refresh_token is not one of the caller's refresh tokens")
def logout(data):
    """End this session: the access token at once, and the refresh token's whole family if it is sent.

    With `all_sessions`, every token of the user stops working on both services, as after a
    password change."""
    accounts.logout(accounts.current_user(), data.get("refresh_token"), data.get("all_sessions", False))
