-- The dead letters not discarded (task_schedule rows `status = 'Dead' AND discarded_at IS
-- NULL`), counted by the writes that make or unmake one. Applied by the Alembic revision
-- 0018_dead_letter_counts; PostgreSQL only (SQLite, the embedded small case, counts them).
--
-- /metrics reports them on every scrape (headway_tasks{status="Dead"}, from
-- count_open_rows_by_status). No age prunes a dead letter that nobody discarded, so they pile
-- up with the history: counting them through task_schedule_dead cost 50 to 70 ms of a scrape
-- with 600,000 of them (30 M history rows), 30 times its cost at 1 M. Here the scrape sums a
-- few rows instead, at any size.
--
-- Exact, not a cache: each change to the count is made by a trigger in the transaction that
-- makes or unmakes the dead letter, so a reader's snapshot sees the rows and their count as of
-- the same instant. The triggers are per row but guarded by WHEN: a row whose membership does
-- not change (every claim, start and finish of a row that is not dying, every history row
-- inserted Succeeded) costs the WHEN test only, which queues no trigger event.
--
-- Writers only append (+1 or -1 per row), so concurrent Processors burying rows never wait
-- for each other on a counter row. Appended rows are not `merged`; the Scheduler folds them
-- into the one merged row after its pass (merge_dead_letter_counts), under the merge lock of
-- the minute counts (0017).
CREATE TABLE dead_letter_counts (
    row_count BIGINT  NOT NULL,
    merged    BOOLEAN NOT NULL DEFAULT FALSE
);

-- One function for the three triggers: a row that is a live dead letter after the change
-- (an insert, or an update into one) adds one; one that was before it takes one away.
CREATE FUNCTION headway_count_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dead_letter_counts (row_count)
    VALUES (CASE WHEN TG_OP <> 'DELETE' AND NEW.status = 'Dead' AND NEW.discarded_at IS NULL
                 THEN 1 ELSE -1 END);
    RETURN NULL;
END;
$$;
-- Row triggers on the partitioned table are cloned to every partition, those created later
-- included, so a write to a partition by name fires them too. PostgreSQL runs an UPDATE that
-- moves a row to another partition as a DELETE and an INSERT, whose triggers count it.
CREATE TRIGGER task_schedule_dead_letter_added AFTER INSERT ON task_schedule
    FOR EACH ROW WHEN (NEW.status = 'Dead' AND NEW.discarded_at IS NULL)
    EXECUTE FUNCTION headway_count_dead_letter();
CREATE TRIGGER task_schedule_dead_letter_removed AFTER DELETE ON task_schedule
    FOR EACH ROW WHEN (OLD.status = 'Dead' AND OLD.discarded_at IS NULL)
    EXECUTE FUNCTION headway_count_dead_letter();
CREATE TRIGGER task_schedule_dead_letter_changed AFTER UPDATE OF status, discarded_at ON task_schedule
    FOR EACH ROW WHEN ((OLD.status = 'Dead' AND OLD.discarded_at IS NULL)
                       IS DISTINCT FROM (NEW.status = 'Dead' AND NEW.discarded_at IS NULL))
    EXECUTE FUNCTION headway_count_dead_letter();

-- Under the merge lock (engine.adapters.schedule_counts.MERGE_LOCK, "HWMC"), as 0017's: a
-- merge running meanwhile would otherwise write its sum back after this deletion.
CREATE FUNCTION headway_dead_letters_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1213680963);
    DELETE FROM dead_letter_counts;
    INSERT INTO dead_letter_counts (row_count, merged) VALUES (0, TRUE);
    RETURN NULL;
END;
$$;
CREATE TRIGGER task_schedule_dead_letters_truncated AFTER TRUNCATE ON task_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION headway_dead_letters_truncated();

-- Detaching a week's partition takes its rows away with no trigger seeing them go (PostgreSQL
-- drops the cloned triggers from the detached table): engine.adapters.partition_store takes
-- the detached week's dead letters off the count under its lock (subtract_detached_dead_letters).
-- The rows it keeps are inserted again through task_schedule, which counts them.

-- The dead letters already there. CREATE TRIGGER locked task_schedule against writes until
-- the migration commits, so none is made or unmade between this count and the triggers.
INSERT INTO dead_letter_counts (row_count, merged)
SELECT COUNT(*), TRUE FROM task_schedule WHERE status = 'Dead' AND discarded_at IS NULL;
