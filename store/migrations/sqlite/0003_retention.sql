-- Indexes for pruning what has been over for longer than the retention
-- (Store.Prune): audit entries by time, grants by when they ended,
-- requests by when they were decided, and the references that keep a row
-- (an audit entry naming a grant or a request, a grant naming its request),
-- which Prune checks for every row it would delete.

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_request ON audit (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_grant ON audit (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX grants_expires ON grants (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX requests_decided ON requests (decided_at) WHERE status <> 'pending';
