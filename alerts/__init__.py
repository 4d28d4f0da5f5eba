"""Alert rules, their evaluation over Elasticsearch, episodes and notifiers.

Entry points: ``moodwatch alerter`` (:class:`alerts.service.Alerter`), ``moodwatch alerts``
(list, show, silence, rules check, backtest). Read API for the dashboard:
:class:`alerts.store.AlertStore` (``list_episodes``, ``get_episode``, ``silences``).
Design, the single-evaluator lease and the choices made: alerts/README.md.
"""
