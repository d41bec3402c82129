//! Contact state: the [`Store`] trait and its implementations — SQLite
//! ([`sqlite::SqliteStore`], the default, bundled so a fresh machine needs
//! nothing installed) and memory ([`MemoryStore`], for tests and embedders).
//!
//! A store keeps the contacts with their strike history, the ids of the
//! events already processed (so that a replayed event changes nothing) and
//! the transition log (the events that did something to a contact).
//!
//! Every change goes through one write transaction ([`Store::write`]): the
//! runner reads which events were processed and the contacts it touches
//! *inside* the transaction, applies the events, and commits — so two
//! writers on one database (two `rebound run`, or `run` and `serve`) are
//! serialised and can neither lose each other's updates nor process an
//! event twice. [`Tx::commit`] writes a batch atomically: after it returns,
//! every event of the batch is durable, and before, none is; a transaction
//! dropped without a commit changes nothing.

pub mod sqlite;

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::lifecycle::engine::Contact;

/// A store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One line of the transition log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// The event's id.
    pub event: String,
    /// The contact.
    pub address: String,
    /// The event's type.
    pub kind: String,
    /// The event's `at`.
    pub at: Option<String>,
    /// The state before, delivery and consent.
    pub from: (String, String),
    /// The state after.
    pub to: (String, String),
    /// The transitions that fired, comma-separated, if any.
    pub rule: Option<String>,
    /// The strike rule that tripped, if any.
    pub strike_rule: Option<String>,
    /// The verdict's class and reason, for bounces.
    pub verdict: Option<(String, String)>,
    /// The rule that decided the verdict.
    pub verdict_rule: Option<String>,
    /// The reactivation answer and its rule, for reactivation requests.
    pub reactivation: Option<(bool, Option<String>)>,
    /// Strikes after the event.
    pub strikes: u32,
    /// The policy version.
    pub version: String,
}

/// What one batch changes, written at once.
#[derive(Debug, Default)]
pub struct Commit {
    /// Contacts as they are after the batch.
    pub contacts: Vec<Contact>,
    /// The ids of every event processed.
    pub events: Vec<String>,
    /// The log of the events that did something (changed a state, counted a
    /// strike, answered a reactivation), in processing order.
    pub log: Vec<LogEntry>,
}

/// Which contacts to list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this `delivery` state.
    pub delivery: Option<String>,
    /// Only this `consent` state.
    pub consent: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// Where contact state lives.
pub trait Store {
    /// Starts the write transaction of one batch. No other writer can change
    /// the store until it is committed or dropped (SQLite: `BEGIN
    /// IMMEDIATE`, waiting while another writer holds the lock); reads made
    /// through it see the state the commit will replace.
    fn write(&mut self) -> Result<Box<dyn Tx + '_>, StoreError>;
    /// Which of these event ids were already processed, in order, outside
    /// any transaction: a hint that lets the runner skip work for events a
    /// re-run will drop anyway (the transaction's answer is the one that counts).
    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError>;
    /// Contacts matching a filter, by address.
    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError>;
    /// The transition log of one contact, oldest first.
    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError>;
    /// One contact, or `None` when it was never seen.
    fn contact(&mut self, address: &str) -> Result<Option<Contact>, StoreError>;
    /// A second view of the processed event ids that answers from another
    /// thread while this store writes (SQLite: a read connection of its
    /// own, WAL), so that the runner can skip the classification of the next
    /// batch's already processed events during the current batch's
    /// transaction. A hint only, like [`Store::processed`]. `None` (the
    /// default): the runner prepares each batch after the previous commit.
    fn processed_reader(&mut self) -> Option<Box<dyn ProcessedReader>> {
        None
    }
}

/// See [`Store::processed_reader`].
pub trait ProcessedReader: Send {
    /// Which of these event ids were already processed, in order (committed
    /// state: a hint).
    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError>;
}

/// One write transaction: consistent reads, then one atomic commit.
/// Dropping it without [`Tx::commit`] rolls everything back.
pub trait Tx {
    /// The contacts at these addresses (`None` for unknown ones), in order.
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError>;
    /// Which of these event ids were already processed, in order.
    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError>;
    /// Which of these event ids were already processed, in order, for a
    /// caller that will commit every other one of them in
    /// [`Commit::events`]: a store may record them now (SQLite: one `INSERT
    /// OR IGNORE` each, rather than a lookup now and an insert at the
    /// commit). The answer and the committed state are those of
    /// [`Tx::processed`] followed by the commit; an id claimed but left out
    /// of the commit is not recorded. Default: [`Tx::processed`].
    fn claim(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        self.processed(ids)
    }
    /// A number that is the same as in this store's previous write
    /// transaction exactly when no other writer committed in between (SQLite:
    /// `PRAGMA data_version`), so that a writer may keep the contacts it
    /// committed and skip reading them again; `None` (the default): unknown,
    /// every contact is read.
    fn generation(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    /// Writes the batch and ends the transaction; all of it is durable when
    /// this returns `Ok`, none of it otherwise.
    fn commit(self: Box<Self>, batch: &Commit) -> Result<(), StoreError>;
}

impl<S: Store + ?Sized> Store for &mut S {
    fn write(&mut self) -> Result<Box<dyn Tx + '_>, StoreError> {
        (**self).write()
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        (**self).processed(ids)
    }

    fn contact(&mut self, address: &str) -> Result<Option<Contact>, StoreError> {
        (**self).contact(address)
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError> {
        (**self).list(filter)
    }

    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError> {
        (**self).history(address)
    }

    fn processed_reader(&mut self) -> Option<Box<dyn ProcessedReader>> {
        (**self).processed_reader()
    }
}

/// A store in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    contacts: BTreeMap<String, Contact>,
    events: HashSet<String>,
    log: Vec<LogEntry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

/// The memory store's transaction: `&mut` already excludes every other
/// writer, so reads go straight to the maps and the commit applies in place.
struct MemoryTx<'a>(&'a mut MemoryStore);

impl Tx for MemoryTx<'_> {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        Ok(addresses.iter().map(|a| self.0.contacts.get(*a).cloned()).collect())
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        self.0.processed(ids)
    }

    fn commit(self: Box<Self>, batch: &Commit) -> Result<(), StoreError> {
        let store = self.0;
        for c in &batch.contacts {
            store.contacts.insert(c.address.clone(), c.clone());
        }
        for e in &batch.events {
            store.events.insert(e.clone());
        }
        store.log.extend(batch.log.iter().cloned());
        Ok(())
    }
}

impl Store for MemoryStore {
    fn write(&mut self) -> Result<Box<dyn Tx + '_>, StoreError> {
        Ok(Box::new(MemoryTx(self)))
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        Ok(ids.iter().map(|i| self.events.contains(*i)).collect())
    }

    fn contact(&mut self, address: &str) -> Result<Option<Contact>, StoreError> {
        Ok(self.contacts.get(address).cloned())
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError> {
        let ok = |c: &&Contact| {
            filter.delivery.as_deref().is_none_or(|d| c.delivery == d)
                && filter.consent.as_deref().is_none_or(|d| c.consent == d)
        };
        Ok(self.contacts.values().filter(ok).take(filter.limit.unwrap_or(usize::MAX)).cloned().collect())
    }

    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.log.iter().filter(|e| e.address == address).cloned().collect())
    }
}
