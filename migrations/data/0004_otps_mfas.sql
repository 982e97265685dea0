-- One-time passwords (request-otp / auth-with-otp) and pending MFA sessions.
-- Codes are stored as salted SHA-256 digests, never in clear; rows expire (unix seconds)
-- and are deleted when used, when expired, or after too many wrong attempts.
CREATE TABLE _otps (
    id            TEXT PRIMARY KEY NOT NULL,
    collectionRef TEXT NOT NULL,
    recordRef     TEXT NOT NULL,
    salt          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    sentTo        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    expires       INTEGER NOT NULL,
    created       TEXT NOT NULL
) STRICT;
CREATE INDEX _otps_record ON _otps (collectionRef, recordRef);
CREATE INDEX _otps_expires ON _otps (expires);

CREATE TABLE _mfas (
    id            TEXT PRIMARY KEY NOT NULL,
    collectionRef TEXT NOT NULL,
    recordRef     TEXT NOT NULL,
    method        TEXT NOT NULL,
    expires       INTEGER NOT NULL,
    created       TEXT NOT NULL
) STRICT;
CREATE INDEX _mfas_expires ON _mfas (expires);
