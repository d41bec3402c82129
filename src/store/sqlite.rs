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

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use rustc_hash::FxHashSet;

use super::{Commit, Filter, LogEntry, ProcessedReader, Store, StoreError, Tx};
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
    /// The file, for the connections of [`Store::processed_reader`].
    path: Option<PathBuf>,
    /// The thread that checkpoints the WAL, when there is one.
    checkpointer: Option<Checkpointer>,
}

/// How many WAL pages a writer whose WAL is checkpointed in the background
/// lets pile up before it checkpoints itself (the background thread
/// lagging far behind): 256 MiB of 4 KiB pages.
const WAL_PAGES_BEHIND: i64 = 65_536;

/// A thread with a connection of its own that checkpoints the WAL after
/// each commit (`PRAGMA wal_checkpoint(PASSIVE)`), so that a writer's
/// commit only appends to the WAL and syncs it. Ends when dropped.
struct Checkpointer {
    poke: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_WAIT)?;
        let (poke, pokes) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new().name("rebound-checkpoint".into()).spawn(move || {
            while pokes.recv().is_ok() {
                // A checkpoint that fails (the disk, say) is tried again after the next
                // commit; the committed data is safe in the WAL meanwhile.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })?;
        Ok(Checkpointer { poke: Some(poke), thread: Some(thread) })
    }

    /// Asks for a checkpoint (one already asked for and not started covers this one).
    fn poke(&self) {
        if let Some(p) = &self.poke {
            let _ = p.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.poke.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SqliteStore {
    /// Opens (and creates if needed, mode 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        let mut store = SqliteStore::init(conn)?;
        store.path = Some(path.to_path_buf());
        Ok(store)
    }

    /// Checkpoints the WAL on a thread of its own from now on (a file
    /// database only), rather than in the commit that crosses SQLite's
    /// threshold: for a long run of large batches, whose commits then only
    /// append to the WAL and sync it. Durability is the same: a committed
    /// batch is in the synced WAL either way.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        let Some(path) = self.path.as_deref() else { return Ok(()) };
        if self.checkpointer.is_none() {
            self.checkpointer = Some(Checkpointer::start(path)?);
            self.conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES_BEHIND)?;
        }
        Ok(())
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
        Ok(SqliteStore { conn, path: Some(path.to_path_buf()), checkpointer: None })
    }

    /// A database in memory (for tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_WAIT)?;
        wal_mode(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // 32 MiB of pages: pages beyond are read through the memory map, at no
        // measurable cost to `run` (64 MiB only added to its memory).
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn, path: None, checkpointer: None })
    }
}

/// Puts the database in WAL mode. Switching a new database answers
/// "database is locked" at once, without the busy handler, while another
/// connection opens it (two runs creating one file): tried again until
/// [`BUSY_WAIT`].
fn wal_mode(conn: &Connection) -> Result<(), StoreError> {
    let start = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && start.elapsed() < BUSY_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return Ok(other?),
        }
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

/// Writes a batch inside the caller's transaction; the ids in `claimed`
/// are in `seen` already (see [`Tx::claim`]): those the batch leaves out are
/// taken out again.
fn write_batch(conn: &Connection, batch: &Commit, mut claimed: FxHashSet<String>) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(&format!(
        "INSERT INTO contacts ({CONTACT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(address) DO UPDATE SET delivery = excluded.delivery, consent = excluded.consent,
         strikes = excluded.strikes, last_reason = excluded.last_reason, updated = excluded.updated,
         since = excluded.since, via = excluded.via, error_reason = excluded.error_reason, history = excluded.history"
    ))?;
    // A contact whose delivery state stayed is updated without touching the
    // `contacts_delivery` index; a new one, or one whose state changed, is
    // upserted.
    let mut update = conn.prepare_cached(
        "UPDATE contacts SET consent = ?3, strikes = ?4, last_reason = ?5, updated = ?6, since = ?7, via = ?8,
         error_reason = ?9, history = ?10 WHERE address = ?1 AND delivery = ?2",
    )?;
    // In key order: neighbouring rows share their pages.
    let mut contacts: Vec<&Contact> = batch.contacts.iter().collect();
    contacts.sort_unstable_by(|a, b| a.address.cmp(&b.address));
    let mut history = Vec::new();
    for c in contacts {
        history.clear();
        serde_json::to_writer(&mut history, &c.history).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let history = std::str::from_utf8(&history).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = params![
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
        ];
        if update.execute(row)? == 0 {
            upsert.execute(row)?;
        }
    }
    let mut seen = conn.prepare_cached("INSERT OR IGNORE INTO seen (id) VALUES (?1)")?;
    let mut events: Vec<&str> =
        batch.events.iter().filter(|id| !claimed.remove(id.as_str())).map(String::as_str).collect();
    events.sort_unstable();
    for id in events {
        seen.execute([id])?;
    }
    if !claimed.is_empty() {
        let mut unclaim = conn.prepare_cached("DELETE FROM seen WHERE id = ?1")?;
        for id in &claimed {
            unclaim.execute([id])?;
        }
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

/// A `BEGIN IMMEDIATE` transaction: it holds the write lock from the first
/// read. `claimed`: the ids [`Tx::claim`] put in `seen`.
struct SqliteTx<'a> {
    tx: Transaction<'a>,
    claimed: FxHashSet<String>,
    checkpointer: Option<&'a Checkpointer>,
}

impl Tx for SqliteTx<'_> {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        contacts(&self.tx, addresses)
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        processed(&self.tx, ids)
    }

    fn claim(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        let mut insert = self.tx.prepare_cached("INSERT OR IGNORE INTO seen (id) VALUES (?1)")?;
        // In key order: neighbouring ids share their pages.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids.get(i).copied().unwrap_or(""));
        let mut before = vec![false; ids.len()];
        for i in order {
            let (Some(id), Some(slot)) = (ids.get(i), before.get_mut(i)) else { continue };
            if self.claimed.contains(*id) {
                continue;
            }
            if insert.execute([id])? == 0 {
                *slot = true;
            } else {
                self.claimed.insert((*id).to_string());
            }
        }
        Ok(before)
    }

    fn generation(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.tx.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))? as u64))
    }

    fn commit(self: Box<Self>, batch: &Commit) -> Result<(), StoreError> {
        let SqliteTx { tx, claimed, checkpointer } = *self;
        write_batch(&tx, batch, claimed)?;
        tx.commit()?;
        if let Some(c) = checkpointer {
            c.poke();
        }
        Ok(())
    }
}

/// The connection of [`Store::processed_reader`].
struct SqliteReader(Connection);

impl ProcessedReader for SqliteReader {
    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        processed(&self.0, ids)
    }
}

impl Store for SqliteStore {
    fn write(&mut self) -> Result<Box<dyn Tx + '_>, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTx { tx, claimed: FxHashSet::default(), checkpointer: self.checkpointer.as_ref() }))
    }

    fn processed_reader(&mut self) -> Option<Box<dyn ProcessedReader>> {
        let store = SqliteStore::open_reader(self.path.as_deref()?).ok()?;
        Some(Box::new(SqliteReader(store.conn)))
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
