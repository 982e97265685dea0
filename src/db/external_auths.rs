//! Rows of `_externalAuths`: which provider account (provider + the provider's user id) is
//! linked to which auth record. Plain functions over a connection, so the OAuth2 flow can
//! read and change links in the same transaction as the record itself.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::util::{new_id, now_string};

/// One link between an auth record and a provider account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAuth {
    pub id: String,
    pub collection_ref: String,
    pub record_ref: String,
    pub provider: String,
    pub provider_id: String,
    pub created: String,
    pub updated: String,
}

const COLUMNS: &str = "id, collectionRef, recordRef, provider, providerId, created, updated";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ExternalAuth> {
    Ok(ExternalAuth {
        id: r.get(0)?,
        collection_ref: r.get(1)?,
        record_ref: r.get(2)?,
        provider: r.get(3)?,
        provider_id: r.get(4)?,
        created: r.get(5)?,
        updated: r.get(6)?,
    })
}

/// The link of a provider account in a collection, if any.
pub fn find_by_provider(
    conn: &Connection,
    collection_id: &str,
    provider: &str,
    provider_id: &str,
) -> rusqlite::Result<Option<ExternalAuth>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _externalAuths
         WHERE collectionRef = ?1 AND provider = ?2 AND providerId = ?3"
    ))?
    .query_row((collection_id, provider, provider_id), from_row)
    .optional()
}

/// Every link of one record, oldest first.
pub fn list_for_record(
    conn: &Connection,
    collection_id: &str,
    record_id: &str,
) -> rusqlite::Result<Vec<ExternalAuth>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _externalAuths
         WHERE collectionRef = ?1 AND recordRef = ?2 ORDER BY created, id"
    ))?;
    let rows = stmt.query_map((collection_id, record_id), from_row)?;
    rows.collect()
}

/// Link a provider account to a record. Fails with a UNIQUE violation when the account
/// is linked already, or the record already has an account of this provider.
pub fn insert(
    conn: &Connection,
    collection_id: &str,
    record_id: &str,
    provider: &str,
    provider_id: &str,
) -> rusqlite::Result<ExternalAuth> {
    let now = now_string();
    let row = ExternalAuth {
        id: new_id(),
        collection_ref: collection_id.to_owned(),
        record_ref: record_id.to_owned(),
        provider: provider.to_owned(),
        provider_id: provider_id.to_owned(),
        created: now.clone(),
        updated: now,
    };
    conn.prepare_cached(&format!(
        "INSERT INTO _externalAuths ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute((
        &row.id,
        &row.collection_ref,
        &row.record_ref,
        &row.provider,
        &row.provider_id,
        &row.created,
        &row.updated,
    ))?;
    Ok(row)
}

/// Delete one link by id.
pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM _externalAuths WHERE id = ?1")?
        .execute([id])
}

/// Delete every link of a record except `keep` (a link id); returns how many went.
pub fn delete_for_record_except(
    conn: &Connection,
    collection_id: &str,
    record_id: &str,
    keep: Option<&str>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM _externalAuths
         WHERE collectionRef = ?1 AND recordRef = ?2 AND id != ?3",
    )?
    .execute((collection_id, record_id, keep.unwrap_or("")))
}

/// Delete every link into a collection (the collection is being deleted).
pub fn delete_for_collection(conn: &Connection, collection_id: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM _externalAuths WHERE collectionRef = ?1")?
        .execute([collection_id])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::migrate::{apply, MigrationSet};

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, MigrationSet::Data).unwrap();
        conn
    }

    #[test]
    fn links_are_found_by_provider_account_and_listed_per_record() {
        let conn = db();
        let a = insert(&conn, "c1", "rec1", "github", "42").unwrap();
        insert(&conn, "c1", "rec1", "google", "g-7").unwrap();
        insert(&conn, "c2", "rec9", "github", "42").unwrap();
        assert_eq!(
            find_by_provider(&conn, "c1", "github", "42").unwrap(),
            Some(a.clone())
        );
        assert_eq!(find_by_provider(&conn, "c1", "github", "43").unwrap(), None);
        let mine = list_for_record(&conn, "c1", "rec1").unwrap();
        assert_eq!(mine.len(), 2);
        assert_eq!(
            find_by_provider(&conn, "c2", "github", "42")
                .unwrap()
                .unwrap()
                .record_ref,
            "rec9",
            "the same account may be linked in another collection"
        );
    }

    #[test]
    fn one_record_per_account_and_one_account_per_provider_per_record() {
        let conn = db();
        insert(&conn, "c1", "rec1", "github", "42").unwrap();
        assert!(
            insert(&conn, "c1", "rec2", "github", "42").is_err(),
            "account already linked"
        );
        assert!(
            insert(&conn, "c1", "rec1", "github", "43").is_err(),
            "record already has a github account"
        );
        assert!(
            insert(&conn, "c1", "rec1", "", "1").is_err(),
            "empty provider"
        );
    }

    #[test]
    fn deleting_keeps_what_is_asked_and_stays_in_the_collection() {
        let conn = db();
        let keep = insert(&conn, "c1", "rec1", "github", "42").unwrap();
        insert(&conn, "c1", "rec1", "google", "g").unwrap();
        insert(&conn, "c1", "rec1", "gitlab", "l").unwrap();
        insert(&conn, "c2", "rec1", "google", "g").unwrap();
        assert_eq!(
            delete_for_record_except(&conn, "c1", "rec1", Some(&keep.id)).unwrap(),
            2
        );
        assert_eq!(
            list_for_record(&conn, "c1", "rec1").unwrap(),
            vec![keep.clone()]
        );
        assert_eq!(delete(&conn, &keep.id).unwrap(), 1);
        assert_eq!(delete_for_collection(&conn, "c2").unwrap(), 1);
        assert_eq!(
            delete_for_record_except(&conn, "c1", "rec1", None).unwrap(),
            0
        );
    }
}
