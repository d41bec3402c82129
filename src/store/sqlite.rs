//! The embedded SQLite store (rusqlite with the bundled SQLite).
//!
//! Tables: `contacts` (state and strike history as JSON), `seen` (the id of
//! every processed event) and `log` (the transition log: the
//! events that did something to a contact). WAL journal with
//! `synchronous=FULL`: a committed batch survives a crash of the process and
//! of the machine. Each batch is one transaction with prepared statements.

use std::path::Path;

use rusqlite::{Connection, params};

use super::{Commit, Filter, LogEntry, Store, StoreError};
use crate::lifecycle::engine::{Contact, Mark};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS contacts (
    address TEXT PRIMARY KEY,
    delivery TEXT NOT NULL,
    consent TEXT NOT NULL,
    strikes INTEGER NOT NULL,
    last_reason TEXT,
    updated TEXT,
    since TEXT,
    via TEXT,
    error_reason TEXT,
    history TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contacts_delivery ON contacts(delivery);
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    address TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT,
    from_delivery TEXT NOT NULL,
    from_consent TEXT NOT NULL,
    to_delivery TEXT NOT NULL,
    to_consent TEXT NOT NULL,
    rule TEXT,
    strike_rule TEXT,
    class TEXT,
    reason TEXT,
    verdict_rule TEXT,
    reactivation TEXT,
    strikes INTEGER NOT NULL,
    version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_address ON log(address, seq);
";

/// Contact state in a SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (and creates if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        SqliteStore::init(conn)
    }

    /// A database in memory (for tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn })
    }

    /// Reads one contact.
    pub fn contact(&mut self, address: &str) -> Result<Option<Contact>, StoreError> {
        Ok(self.contacts(&[address])?.into_iter().next().flatten())
    }
}

fn row_contact(row: &rusqlite::Row) -> rusqlite::Result<(Contact, String)> {
    Ok((
        Contact {
            address: row.get(0)?,
            delivery: row.get(1)?,
            consent: row.get(2)?,
            strikes: row.get(3)?,
            last_reason: row.get(4)?,
            updated: row.get(5)?,
            since: row.get(6)?,
            via: row.get(7)?,
            error_reason: row.get(8)?,
            history: Vec::new(),
        },
        row.get(9)?,
    ))
}

fn with_history((mut c, history): (Contact, String)) -> Result<Contact, StoreError> {
    c.history =
        serde_json::from_str::<Vec<Mark>>(&history).map_err(|e| StoreError::Corrupt(format!("{}: {e}", c.address)))?;
    Ok(c)
}

/// How many keys one `IN (…)` query looks up.
const IN_CHUNK: usize = 500;

const CONTACT_COLUMNS: &str =
    "address, delivery, consent, strikes, last_reason, updated, since, via, error_reason, history";

impl Store for SqliteStore {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        let mut found: std::collections::HashMap<String, Contact> =
            std::collections::HashMap::with_capacity(addresses.len());
        for chunk in addresses.chunks(IN_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE address IN ({marks})"))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), row_contact)?;
            for row in rows {
                let c = with_history(row?)?;
                found.insert(c.address.clone(), c);
            }
        }
        Ok(addresses.iter().map(|a| found.remove(*a)).collect())
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.conn.prepare_cached(&format!("SELECT id FROM seen WHERE id IN ({marks})"))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |r| r.get::<_, String>(0))?;
            for row in rows {
                seen.insert(row?);
            }
        }
        Ok(ids.iter().map(|i| seen.contains(*i)).collect())
    }

    fn commit(&mut self, batch: &Commit) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO contacts ({CONTACT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(address) DO UPDATE SET delivery = excluded.delivery, consent = excluded.consent,
                 strikes = excluded.strikes, last_reason = excluded.last_reason, updated = excluded.updated,
                 since = excluded.since, via = excluded.via, error_reason = excluded.error_reason, history = excluded.history"
            ))?;
            for c in &batch.contacts {
                let history = serde_json::to_string(&c.history).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                upsert.execute(params![
                    c.address,
                    c.delivery,
                    c.consent,
                    c.strikes,
                    c.last_reason,
                    c.updated,
                    c.since,
                    c.via,
                    c.error_reason,
                    history
                ])?;
            }
            let mut seen = tx.prepare_cached("INSERT OR IGNORE INTO seen (id) VALUES (?1)")?;
            for id in &batch.events {
                seen.execute([id])?;
            }
            let mut log = tx.prepare_cached(
                "INSERT OR IGNORE INTO log (event, address, kind, at, from_delivery, from_consent, to_delivery, to_consent, rule,
                 strike_rule, class, reason, verdict_rule, reactivation, strikes, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for e in &batch.log {
                let reactivation = e.reactivation.as_ref().map(|(ok, rule)| {
                    format!(
                        "{}{}",
                        if *ok { "allowed" } else { "refused" },
                        rule.as_deref().map(|r| format!(" by {r}")).unwrap_or_default()
                    )
                });
                log.execute(params![
                    e.event,
                    e.address,
                    e.kind,
                    e.at,
                    e.from.0,
                    e.from.1,
                    e.to.0,
                    e.to.1,
                    e.rule,
                    e.strike_rule,
                    e.verdict.as_ref().map(|v| &v.0),
                    e.verdict.as_ref().map(|v| &v.1),
                    e.verdict_rule,
                    reactivation,
                    e.strikes,
                    e.version
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE (?1 IS NULL OR delivery = ?1) AND (?2 IS NULL OR consent = ?2)
             ORDER BY address LIMIT ?3"
        ))?;
        let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let rows = stmt.query_map(params![filter.delivery, filter.consent, limit], row_contact)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(with_history)).collect()
    }

    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event, address, kind, at, from_delivery, from_consent, to_delivery, to_consent, rule, strike_rule,
             class, reason, verdict_rule, reactivation, strikes, version FROM log WHERE address = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([address], |r| {
            let class: Option<String> = r.get(10)?;
            let reason: Option<String> = r.get(11)?;
            let reactivation: Option<String> = r.get(13)?;
            Ok(LogEntry {
                event: r.get(0)?,
                address: r.get(1)?,
                kind: r.get(2)?,
                at: r.get(3)?,
                from: (r.get(4)?, r.get(5)?),
                to: (r.get(6)?, r.get(7)?),
                rule: r.get(8)?,
                strike_rule: r.get(9)?,
                verdict: class.zip(reason),
                verdict_rule: r.get(12)?,
                reactivation: reactivation.map(|s| {
                    let (word, rule) =
                        s.split_once(" by ").map_or((s.as_str(), None), |(w, r)| (w, Some(r.to_string())));
                    (word == "allowed", rule)
                }),
                strikes: r.get(14)?,
                version: r.get(15)?,
            })
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }
}
