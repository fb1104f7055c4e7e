-- Discarded dead letters. Applied by the Alembic revision 0010_dead_letter_discard.
--
-- A discarded row stays `Dead` (its history is kept) with the instant it was discarded; it is
-- no longer a dead letter: not listed, not replayable. The dead-letter index of 0005 is
-- rebuilt under the same name to hold only the live ones, so listing them reads no
-- discarded row however many pile up; the discarded ones get their own, newest first.
-- (SQLite cannot add a CHECK to an existing table; the service keeps discarded rows Dead.)
ALTER TABLE task_schedule ADD COLUMN discarded_at TEXT;
DROP INDEX task_schedule_dead;
CREATE INDEX task_schedule_dead ON task_schedule (finished_at, id)
    WHERE status = 'Dead' AND discarded_at IS NULL;
CREATE INDEX task_schedule_discarded ON task_schedule (discarded_at, id)
    WHERE status = 'Dead' AND discarded_at IS NOT NULL;
-- A discarded dead letter is history: pruning removes it once it was discarded longer ago than
-- the retention (engine.core.retention), through the index of the prunable rows of 0009.
DROP INDEX task_schedule_prunable;
-- (One line: SQLAlchemy reads a SQLite index's predicate up to the end of its line.)
CREATE INDEX task_schedule_prunable ON task_schedule (finished_at, id)
    WHERE status = 'Succeeded' OR (status = 'Failed' AND next_attempt_at IS NULL) OR (status = 'Dead' AND discarded_at IS NOT NULL);
