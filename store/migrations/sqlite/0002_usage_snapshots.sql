-- Each node's latest usage snapshot (package usage's sketches, gzip JSON),
-- which every node reads to merge the fleet's usage figures. The store
-- does not read data; updated_at is INTEGER Unix nanoseconds in UTC, as in
-- 0001, and its index serves both the since filter and the pruning of
-- snapshots past the retention.

CREATE TABLE usage_snapshots (
    node       TEXT    NOT NULL PRIMARY KEY,
    data       BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX usage_snapshots_updated ON usage_snapshots (updated_at);
