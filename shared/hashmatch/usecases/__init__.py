"""The pipeline's decisions, one module a use case: hashing an upload, checking it (live and retro), taking down,
restoring, looking up, and a person's review (review_queue: the items; review: the decisions on them). No AWS here:
each takes its collaborators (tables, buckets, topic, clock, log, metrics) as arguments and returns an outcome; the
Lambda handlers (functions/) and the local tools only wire them."""
