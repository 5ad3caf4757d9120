-- Dead letters nobody has retried yet: counted every second for /metrics and the dashboard
-- (`ce_dead_letters_open`). Retried ones pile up over the years; this keeps the count an
-- index-only scan of the open ones.
CREATE INDEX ce_dead_letters_open ON ce_dead_letters (id) WHERE retried_at IS NULL;
