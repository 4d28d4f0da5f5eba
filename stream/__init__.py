"""Kafka in, Elasticsearch out: the worker, and the tools around its topics and indices.

The worker's flow, in the order a message meets it::

    contract     the input message's fields, defined once
    validation   raw bytes -> Message, or a Rejection with its Reason
    redaction    PII out of the text before anything is stored or shown
    scoring      the model, on its own thread
    documents    Message + prediction -> the Elasticsearch document
    index_layout where documents live (indices, alias, mapping)
    es_sink      bulk writes, retries, backpressure
    pipeline     the stages above, in order, then the offset commit
    app          the Faust worker that feeds the pipeline
    records, metrics, connections, topics, errors: what they share

Tools around it, for the command line (none runs inside the worker): ``publisher`` (a Kafka
producer), ``feeder`` (files and stdin into contract rows, paced), ``dead_letters`` (reading
the dead-letter topic), ``replays`` (sending dead letters back, once each) and ``index_admin``
(creating and inspecting indices).
"""
