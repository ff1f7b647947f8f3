-- Each node's latest usage snapshot: the SQLite schema's twin.
--
-- The store does not read data; updated_at is BIGINT Unix nanoseconds in
-- UTC, as in 0001, and its index serves both the since filter and the
-- pruning of snapshots past the retention.

CREATE TABLE usage_snapshots (
    node       TEXT   NOT NULL PRIMARY KEY,
    data       BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Snapshots are gzip already: stored out of line without a second,
-- futile compression.
ALTER TABLE usage_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE INDEX usage_snapshots_updated ON usage_snapshots (updated_at);
