-- Accounts, sessions, the identity-key directory and meetings.
-- Nothing here is meeting content, attendance or a network address.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT,
    avatar BLOB,
    created_at BIGINT NOT NULL
);

-- Only a SHA-256 of each bearer token is kept.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Append-only: every identity-key change is a new row (published in the ledger).
CREATE TABLE identity_keys (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    version BIGINT NOT NULL,
    public_key BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    host_account_id TEXT NOT NULL REFERENCES accounts(id),
    lobby BIGINT NOT NULL,
    guests_allowed BIGINT NOT NULL,
    locked BIGINT NOT NULL,
    passcode_hash TEXT,
    encrypted_info BLOB,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX meetings_host ON meetings(host_account_id);
