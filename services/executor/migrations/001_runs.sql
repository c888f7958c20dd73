-- Agent runs. The API key a run used is referenced by id only: its plaintext
-- lives in the executor's memory for the length of the run and nowhere else.
-- output is the agent's combined stdout+stderr, already truncated to the limit.
CREATE TABLE runs (
    run_id       uuid PRIMARY KEY,
    owner_id     text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 100),
    key_id       uuid NOT NULL,
    status       text NOT NULL CHECK (
                     status IN ('pending', 'running', 'succeeded', 'failed', 'timed_out', 'error')),
    exit_code    integer NULL,
    output       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz NULL
);
-- Every read is scoped by owner.
CREATE INDEX runs_owner_id ON runs (owner_id, created_at);
-- Start-up looks for runs a previous process left running.
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
