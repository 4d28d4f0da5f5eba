"""The dashboard's Streamlit entry script (``moodwatch dashboard`` serves it).

It runs on every interaction: sign-in gate, shared filters (URL query params), navigation.
Pages live in ``views/``, not ``pages/``: Streamlit would also serve a ``pages/`` folder as
stand-alone scripts, around the sign-in gate. Their data comes from ``dashboard.context``
(cached) and ``dashboard.queries`` (Elasticsearch).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import access, context, sidebar

HERE = Path(__file__).parent
PAGES = (
    # file, title, url path ("" = "/"), icon
    ("overview.py", "Overview", "", ":material/monitoring:"),
    ("alerts.py", "Alerts", "alerts", ":material/notifications_active:"),
    ("explorer.py", "Explorer", "explorer", ":material/search:"),
    ("label_queue.py", "Label queue", "label_queue", ":material/label:"),
    ("models.py", "Models", "models", ":material/model_training:"),
)

st.set_page_config(page_title="moodwatch", page_icon=":material/monitoring:", layout="wide")
settings = context.settings()

if not access.signed_in(settings):
    # Before st.navigation: no page of the app is even registered until the password is given.
    access.sign_in_page(settings)
    st.stop()

pages = [
    st.Page(
        str(HERE / "views" / file),
        title=title,
        url_path=path or None,
        icon=icon,
        default=not path,
    )
    for file, title, path, icon in PAGES
]
page = st.navigation(pages, position="top")
if page.url_path != "models":
    sidebar.render(sidebar.current_view())
page.run()
