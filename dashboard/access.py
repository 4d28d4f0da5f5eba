"""Who may see the dashboard, and who is labelling.

With ``MOODWATCH_DASHBOARD_PASSWORD`` set, nothing but a sign-in form is served until the
password is given (compared in constant time; the secret is never rendered or logged). The
labeler name is asked once per browser session, before the first label.
"""

from __future__ import annotations

import hmac

import streamlit as st

from moodwatch.settings import Settings

_SIGNED_IN = "signed_in"
_LABELER = "labeler"


def signed_in(settings: Settings) -> bool:
    return settings.dashboard_password is None or bool(st.session_state.get(_SIGNED_IN))


def sign_in_page(settings: Settings) -> None:
    """The only page served before the password is given."""
    st.title("moodwatch")
    with st.form("sign-in"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        secret = settings.dashboard_password
        if secret is not None and hmac.compare_digest(
            given.encode("utf-8"), secret.get_secret_value().encode("utf-8")
        ):
            st.session_state[_SIGNED_IN] = True
            st.rerun()
        st.error("That password is not right.")


def labeler() -> str | None:
    name = st.session_state.get(_LABELER)
    return str(name) if name else None


def ask_labeler() -> str | None:
    """The labeler's name, asked for when unknown (returns None until given)."""
    current = labeler()
    name = st.text_input(
        "Your name (recorded with each label)",
        value=current or "",
        max_chars=128,
        placeholder="e.g. dana.k",
    ).strip()
    if name and name != current:
        st.session_state[_LABELER] = name
    return name or None
