-- Access requests, grants and the audit trail.
--
-- Times are INTEGER Unix nanoseconds in UTC, NULL where "not yet" (decided,
-- revoked); durations are INTEGER nanoseconds. The PostgreSQL migrations use
-- the same columns as BIGINT, so the queries are the same for both.
-- Tables are STRICT: a value of the wrong type is an error, not a surprise.

CREATE TABLE requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    subject       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL DEFAULT '',
    app           TEXT    NOT NULL,
    app_name      TEXT    NOT NULL DEFAULT '',
    justification TEXT    NOT NULL,
    url_host      TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at    INTEGER NOT NULL,
    decided_by    TEXT    NOT NULL DEFAULT '',
    decided_at    INTEGER,
    message       TEXT    NOT NULL DEFAULT '',
    grant_for     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One open request per person and app: a second click, or a second node,
-- cannot file a duplicate.
CREATE UNIQUE INDEX requests_one_pending ON requests (subject, app) WHERE status = 'pending';
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX requests_subject_app ON requests (subject, app, id);
CREATE INDEX requests_app_subject ON requests (app, subject);

CREATE TABLE grants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject    TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    source     TEXT    NOT NULL CHECK (source IN ('continue', 'approval')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    request_id INTEGER REFERENCES requests (id),
    revoked_at INTEGER,
    revoked_by TEXT    NOT NULL DEFAULT '',
    CHECK (expires_at > created_at)
) STRICT;

CREATE INDEX grants_subject_app ON grants (subject, app, expires_at);
CREATE INDEX grants_request ON grants (request_id);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    request_id INTEGER REFERENCES requests (id),
    grant_id   INTEGER REFERENCES grants (id),
    subject    TEXT    NOT NULL DEFAULT '',
    app        TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
