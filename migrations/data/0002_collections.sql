-- The collections registry: one row per collection, its definition as JSON.
CREATE TABLE _collections (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL COLLATE NOCASE,
    type       TEXT NOT NULL CHECK (type IN ('base', 'auth', 'view')),
    system     INTEGER NOT NULL DEFAULT 0 CHECK (system IN (0, 1)),
    definition TEXT NOT NULL CHECK (json_valid(definition)),
    created    TEXT NOT NULL,
    updated    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX idx_collections_name ON _collections (name COLLATE NOCASE);

-- `_superusers` becomes a registered (system) auth collection. Its token secret carries
-- over from _params so tokens issued before this migration stay valid.
INSERT INTO _collections (id, name, type, system, definition, created, updated)
SELECT
    'pbc_3142635823', '_superusers', 'auth', 1,
    json_object(
        'id', 'pbc_3142635823',
        'name', '_superusers',
        'type', 'auth',
        'system', json('true'),
        'schema', json_object('type', 'object', 'properties', json_object()),
        'indexes', json_array(),
        'listRule', NULL, 'viewRule', NULL, 'createRule', NULL, 'updateRule', NULL, 'deleteRule', NULL,
        'authRule', '', 'manageRule', NULL,
        'auth', json_object(
            'authToken', json_object('duration', 86400, 'secret',
                coalesce((SELECT value FROM _params WHERE key = 'collection.pbc_3142635823.authToken.secret'),
                         lower(hex(randomblob(25))))),
            'passwordResetToken', json_object('duration', 1800, 'secret', lower(hex(randomblob(25)))),
            'emailChangeToken', json_object('duration', 1800, 'secret', lower(hex(randomblob(25)))),
            'verificationToken', json_object('duration', 86400, 'secret', lower(hex(randomblob(25)))),
            'fileToken', json_object('duration', 180, 'secret', lower(hex(randomblob(25)))),
            'password', json_object('minLength', 10, 'maxLength', 255)
        ),
        'created', strftime('%Y-%m-%d %H:%M:%fZ', 'now'),
        'updated', strftime('%Y-%m-%d %H:%M:%fZ', 'now')
    ),
    strftime('%Y-%m-%d %H:%M:%fZ', 'now'),
    strftime('%Y-%m-%d %H:%M:%fZ', 'now');
DELETE FROM _params WHERE key = 'collection.pbc_3142635823.authToken.secret';
