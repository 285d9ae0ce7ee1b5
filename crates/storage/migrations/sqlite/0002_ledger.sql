-- The transparency log (crates/ledger): one row per entry, in log order, and
-- every signed checkpoint as issued. Append-only: no code path updates or
-- deletes these rows, and the triggers below refuse it in the database too.
-- (They guard against mistakes, not against whoever holds the file: such an
-- insider can drop them, and `conclave audit` is what catches that.)

CREATE TABLE ledger_entries (
    idx INTEGER PRIMARY KEY,
    tag TEXT NOT NULL,
    -- What the entry is about (an account id, a request id), for lookups only;
    -- readers verify the entry itself, never trust this column.
    subject TEXT,
    entry BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    appended_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_subject ON ledger_entries(subject, tag, idx);

CREATE TABLE ledger_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size BIGINT NOT NULL,
    note TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only: DELETE refused'); END;
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: DELETE refused'); END;
