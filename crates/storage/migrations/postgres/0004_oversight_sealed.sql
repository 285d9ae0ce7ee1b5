-- Oversight (issue #5): the private copy of each request filed under a
-- notice delay. The public log holds only its hash until the deadline, so
-- without this copy a restarted server could neither execute nor open it.
-- Append-only: a row is written once, before the request's ledger entry.
CREATE TABLE oversight_sealed_requests (
    request TEXT PRIMARY KEY,
    signed_request BYTEA NOT NULL,
    stored_at BIGINT NOT NULL
);
