//! The embedded SQLite store (rusqlite with the bundled SQLite).
//!
//! Tables: `contacts` (state and strike history as JSON), `seen` (the id of
//! every processed event) and `log` (the transition log: the
//! events that did something to a contact). WAL journal with
//! `synchronous=FULL`: a committed batch survives a crash of the process and
//! of the machine. Each batch is one `BEGIN IMMEDIATE` transaction with
//! prepared statements: it takes the write lock before it reads, so writers
//! in other processes or threads wait their turn (up to [`BUSY_WAIT`])
//! instead of reading a state that another commit is about to replace.
//! Readers never wait for a writer (WAL). A new database file is created
//! readable by its owner only (it holds every address).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::{Commit, Filter, LogEntry, Store, StoreError, Tx};
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

/// How long a writer waits for another writer's transaction before it
/// gives up with "database is locked". A batch holds the lock for a second or
/// two; this covers a long queue of them.
pub const BUSY_WAIT: Duration = Duration::from_secs(300);

/// Contact state in a SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (and creates if needed, mode 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        SqliteStore::init(conn)
    }

    /// Another connection to a database that [`SqliteStore::open`] made,
    /// for reads beside a writer: in WAL mode it never waits for one.
    pub fn open_reader(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(SqliteStore { conn })
    }

    /// A database in memory (for tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn })
    }
}

/// Creates an empty database file readable and writable by its owner only,
/// unless the file exists (then its mode is the owner's choice). SQLite
/// gives its `-wal` and `-shm` files the database's mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io(e)),
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

fn contacts(conn: &Connection, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
    let mut found: std::collections::HashMap<String, Contact> =
        std::collections::HashMap::with_capacity(addresses.len());
    for chunk in addresses.chunks(IN_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE address IN ({marks})"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), row_contact)?;
        for row in rows {
            let c = with_history(row?)?;
            found.insert(c.address.clone(), c);
        }
    }
    Ok(addresses.iter().map(|a| found.remove(*a)).collect())
}

fn processed(conn: &Connection, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt = conn.prepare_cached(&format!("SELECT id FROM seen WHERE id IN ({marks})"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |r| r.get::<_, String>(0))?;
        for row in rows {
            seen.insert(row?);
        }
    }
    Ok(ids.iter().map(|i| seen.contains(*i)).collect())
}

/// Writes a batch inside the caller's transaction.
fn write_batch(conn: &Connection, batch: &Commit) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(&format!(
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
    let mut seen = conn.prepare_cached("INSERT OR IGNORE INTO seen (id) VALUES (?1)")?;
    for id in &batch.events {
        seen.execute([id])?;
    }
    let mut log = conn.prepare_cached(
        "INSERT INTO log (event, address, kind, at, from_delivery, from_consent, to_delivery, to_consent, rule,
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
    Ok(())
}

/// A `BEGIN IMMEDIATE` transaction: it holds the write lock from the first read.
struct SqliteTx<'a>(Transaction<'a>);

impl Tx for SqliteTx<'_> {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        contacts(&self.0, addresses)
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        processed(&self.0, ids)
    }

    fn commit(self: Box<Self>, batch: &Commit) -> Result<(), StoreError> {
        write_batch(&self.0, batch)?;
        self.0.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn write(&mut self) -> Result<Box<dyn Tx + '_>, StoreError> {
        Ok(Box::new(SqliteTx(self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?)))
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        processed(&self.conn, ids)
    }

    fn contact(&mut self, address: &str) -> Result<Option<Contact>, StoreError> {
        Ok(contacts(&self.conn, &[address])?.into_iter().next().flatten())
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
