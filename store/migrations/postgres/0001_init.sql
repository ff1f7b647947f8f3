-- Access requests, grants and the audit trail: the SQLite schema's twin.
--
-- Times are BIGINT Unix nanoseconds in UTC, NULL where "not yet" (decided,
-- revoked); durations are BIGINT nanoseconds. SQLite stores the same values
-- in INTEGER columns, so the queries are the same for both.

CREATE TABLE requests (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject       TEXT   NOT NULL,
    user_name     TEXT   NOT NULL DEFAULT '',
    app           TEXT   NOT NULL,
    app_name      TEXT   NOT NULL DEFAULT '',
    justification TEXT   NOT NULL,
    url_host      TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at    BIGINT NOT NULL,
    decided_by    TEXT   NOT NULL DEFAULT '',
    decided_at    BIGINT,
    message       TEXT   NOT NULL DEFAULT '',
    grant_for     BIGINT NOT NULL DEFAULT 0
);

-- One open request per person and app: a second click, or a second node,
-- cannot file a duplicate.
CREATE UNIQUE INDEX requests_one_pending ON requests (subject, app) WHERE status = 'pending';
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX requests_subject_app ON requests (subject, app, id);
CREATE INDEX requests_app_subject ON requests (app, subject);

CREATE TABLE grants (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject    TEXT   NOT NULL,
    app        TEXT   NOT NULL,
    source     TEXT   NOT NULL CHECK (source IN ('continue', 'approval')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    request_id BIGINT REFERENCES requests (id),
    revoked_at BIGINT,
    revoked_by TEXT   NOT NULL DEFAULT '',
    CHECK (expires_at > created_at)
);

CREATE INDEX grants_subject_app ON grants (subject, app, expires_at);
CREATE INDEX grants_request ON grants (request_id);

CREATE TABLE audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    request_id BIGINT REFERENCES requests (id),
    grant_id   BIGINT REFERENCES grants (id),
    subject    TEXT   NOT NULL DEFAULT '',
    app        TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT ''
);
