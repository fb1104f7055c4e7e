-- Ordering keys. Applied by the Alembic revision 0014_ordering_keys; the semantics are in
-- docs/scheduling.md. Tasks sharing an ordering_key start one at a time, in scheduled order,
-- across every distributor and processor; their rows are claimed by policy (policy_claim,
-- 0012), one key at a time under a transaction-scoped advisory lock of the key.
ALTER TABLE tasks ADD COLUMN ordering_key TEXT
    CHECK (length(ordering_key) BETWEEN 1 AND 200);
CREATE INDEX tasks_ordering_key ON tasks (ordering_key) WHERE ordering_key IS NOT NULL;
