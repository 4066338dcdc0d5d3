"""`sanity user ...` administers accounts."""

from __future__ import annotations

from sanity.accounts import users as accounts


def test_create_with_password_from_stdin_then_log_in(runner, client):
    """user create --password-stdin makes an account that can log in; email counts verified."""
    result = runner.invoke(
        args=["user", "create", "Xena", "--email", "x@example.org", "--digest", "--admin",
              "--password-stdin"],
        input="long password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = accounts.find_user("xena")
    assert user.is_admin and user.digest_enabled and user.email_verified
    assert accounts.authenticate("XENA", "long password") is not None


def test_bad_input_exits_2(runner):
    """A taken or invalid name and a short password are usage errors (exit 2)."""
    accounts.create_user("yuri", "long password")
    assert runner.invoke(args=["user", "create", "YURI"]).exit_code == 2
    assert runner.invoke(args=["user", "create", "bad name"]).exit_code == 2
    result = runner.invoke(args=["user", "create", "zoe", "--password-stdin"], input="short\n")
    assert result.exit_code == 2 and "at least 8" in result.output
    assert runner.invoke(args=["user", "delete", "nobody", "--yes"]).exit_code == 2


def test_token_is_alone_on_the_last_line_and_works(runner, client):
    """user token prints a token alone on the last line; it authenticates API calls."""
    accounts.create_user("ann", None)
    result = runner.invoke(args=["user", "token", "ann"])
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sanity_") and " " not in token
    response = client.get("/api/tags", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_list_disable_set_password_delete(runner):
    """Admins list, disable, re-enable, reset and delete accounts."""
    accounts.create_user("bea", "long password", "b@example.org")
    assert "bea\tb@example.org" in runner.invoke(args=["user", "list"]).stdout
    runner.invoke(args=["user", "disable", "bea"])
    assert accounts.authenticate("bea", "long password") is None
    runner.invoke(args=["user", "disable", "bea", "--enable"])
    runner.invoke(args=["user", "set-password", "bea", "--password-stdin"], input="new password\n")
    assert accounts.authenticate("bea", "new password") is not None
    assert runner.invoke(args=["user", "delete", "bea", "--yes"]).exit_code == 0
    assert accounts.find_user("bea") is None
