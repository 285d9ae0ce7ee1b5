-- Oversight (issue #5): an account suspended under a quorum-approved order.
-- NULL: not suspended. Suspended accounts cannot log in or use tokens.
ALTER TABLE accounts ADD COLUMN suspended_at INTEGER;
