-- Which executor process runs each run, so that a restarting process marks as
-- interrupted only the runs it had itself, not those of another replica.
ALTER TABLE runs ADD COLUMN runner text NOT NULL DEFAULT '';
DROP INDEX runs_running;
CREATE INDEX runs_running ON runs (runner) WHERE status = 'running';
