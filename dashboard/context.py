"""What every page shares: settings, the Elasticsearch client, the label publisher (one per
server process, via ``st.cache_resource``) and the cached reads (``st.cache_data``, a few
seconds), so a page is a layout of calls and reruns within the TTL cost no query.

Cached reads take a hashable ``key`` (the view rounded to 5 s, see :meth:`View.key`) and the
view itself as an unhashed ``_view``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st
from elasticsearch import Elasticsearch

from dashboard.filters import View
from dashboard.labelling import LabelPublisher
from dashboard.queries import decisions, episodes, labels, messages, overview, versions
from models.taxonomy import Taxonomy, load_taxonomy
from moodwatch.settings import Settings, load_settings
from stream.connections import elasticsearch

TTL_S = 5


@st.cache_resource
def settings() -> Settings:
    return load_settings()


@st.cache_resource
def es_client() -> Elasticsearch:
    return elasticsearch(settings())


@st.cache_resource
def label_publisher() -> LabelPublisher:
    return LabelPublisher(settings())


def prefix() -> str:
    return settings().es_index_prefix


def alias() -> str:
    return f"{prefix()}-messages"


@st.cache_data(ttl=TTL_S, show_spinner=False)
def overview_data(key: tuple[str, ...], _view: View) -> overview.OverviewData:
    return overview.overview_data(es_client(), alias(), _view)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def headline(key: tuple[str, ...], _view: View) -> overview.Headline:
    return overview.headline(es_client(), alias(), _view)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def timeline(key: tuple[str, ...], _view: View) -> list[overview.TimelinePoint]:
    return overview.timeline(es_client(), alias(), _view)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def negative_by_group(key: tuple[str, ...], field: str, _view: View) -> list[overview.GroupShare]:
    return overview.negative_by_group(es_client(), alias(), _view, field)


@st.cache_data(ttl=60, show_spinner=False)
def filter_options(key: tuple[str, ...], _view: View) -> dict[str, list[str]]:
    return overview.filter_options(es_client(), alias(), _view)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def search_messages(
    key: tuple[str, ...], offset: int, size: int, sort: str, _view: View
) -> messages.Page:
    return messages.search_messages(
        es_client(), alias(), _view, offset=offset, size=size, sort=sort
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def message_detail(message_id: str) -> dict[str, Any] | None:
    return messages.message_detail(es_client(), alias(), message_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def export_csv(key: tuple[str, ...], max_rows: int, _view: View) -> str:
    return messages.to_csv(messages.export_rows(es_client(), alias(), _view, max_rows))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def list_episodes(key: tuple[str, ...], _view: View | None) -> list[episodes.Episode]:
    return episodes.list_episodes(es_client(), prefix(), _view)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def get_episode(episode_id: str) -> episodes.Episode | None:
    return episodes.get_episode(es_client(), prefix(), episode_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def labels_since(since: datetime | None) -> int:
    return labels.count_labels_since(es_client(), prefix(), since)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def registry() -> versions.RegistryView:
    return versions.read_registry(settings().registry_path)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def retrain_runs() -> list[dict[str, Any]]:
    return versions.retrain_runs(es_client(), prefix())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def shadow_outcomes() -> list[decisions.ShadowOutcome]:
    """Every candidate the gate evaluated with its shadow numbers, newest first."""
    return decisions.shadow_outcomes(
        decisions.gate_decisions(es_client(), prefix()), registry().versions
    )


def retrain_threshold() -> int:
    """Labels that trigger a retrain (the learning loop's setting, 100 until it exists)."""
    return int(getattr(settings(), "retrain_min_new_labels", 100))


@st.cache_data(ttl=60, show_spinner=False)
def thresholds() -> list[Any]:
    from dashboard.queries.thresholds import negative_share_thresholds

    path = getattr(settings(), "alert_rules_path", None)
    return list(negative_share_thresholds(Path(path) if path else None))


@st.cache_resource
def taxonomy() -> Taxonomy:
    return load_taxonomy(settings().taxonomy_path)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def behind_alerts(key: tuple[str, ...], _view: View) -> list[messages.MessageRow]:
    """The least confident messages of each firing episode's window and group (bounded)."""
    rows: list[messages.MessageRow] = []
    for episode in [e for e in list_episodes(key, _view) if e.firing][:5]:
        params = episode.explorer_params()
        from dashboard.filters import view_from_params

        scope = view_from_params(params)
        rows.extend(messages.least_confident(es_client(), alias(), scope, size=5))
    return rows


def least_confident(view: View, exclude: set[str]) -> list[messages.MessageRow]:
    return messages.least_confident(es_client(), alias(), view, exclude=exclude, size=20)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def labelled_by(labeler: str) -> set[str]:
    return labels.labelled_by(es_client(), prefix(), labeler)


def silence(rule: str, group: str, until: datetime) -> None:
    episodes.silence(es_client(), prefix(), rule, group, until)
    list_episodes.clear()
