-- The transparency log (crates/ledger): one row per entry, in log order, and
-- every signed checkpoint as issued. Append-only: no code path updates or
-- deletes these rows, and the triggers below refuse it in the database too.
-- (They guard against mistakes, not against a database superuser: such an
-- insider can drop them, and `conclave audit` is what catches that.)

CREATE TABLE ledger_entries (
    idx BIGINT PRIMARY KEY,
    tag TEXT NOT NULL,
    -- What the entry is about (an account id, a request id), for lookups only;
    -- readers verify the entry itself, never trust this column.
    subject TEXT,
    entry BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL,
    appended_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_subject ON ledger_entries(subject, tag, idx);

CREATE TABLE ledger_checkpoints (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    note TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
