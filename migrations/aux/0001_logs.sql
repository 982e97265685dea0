-- Request and application logs, kept apart from data.db so logging never contends with
-- record writes.
CREATE TABLE _logs (
    id      TEXT PRIMARY KEY NOT NULL,
    level   INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    data    TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL
) STRICT;
CREATE INDEX idx_logs_created ON _logs (created);
CREATE INDEX idx_logs_level ON _logs (level);
