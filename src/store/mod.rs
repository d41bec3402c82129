//! Contact state: the [`Store`] trait and its implementations — SQLite
//! ([`sqlite::SqliteStore`], the default, bundled so a fresh machine needs
//! nothing installed) and memory ([`MemoryStore`], for tests and embedders).
//!
//! A store keeps the contacts with their strike history, the ids of the
//! events already processed (so that a replayed event changes nothing) and
//! the transition log (the events that did something to a contact). [`Store::commit`] writes a batch atomically: after it
//! returns, every event of the batch is durable, and before, none is.

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
    /// The contacts at these addresses (`None` for unknown ones), in order.
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError>;
    /// Which of these event ids were already processed, in order.
    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError>;
    /// Writes a batch atomically.
    fn commit(&mut self, batch: &Commit) -> Result<(), StoreError>;
    /// Contacts matching a filter, by address.
    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError>;
    /// The transition log of one contact, oldest first.
    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError>;
}

impl<S: Store + ?Sized> Store for &mut S {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        (**self).contacts(addresses)
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        (**self).processed(ids)
    }

    fn commit(&mut self, batch: &Commit) -> Result<(), StoreError> {
        (**self).commit(batch)
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Contact>, StoreError> {
        (**self).list(filter)
    }

    fn history(&mut self, address: &str) -> Result<Vec<LogEntry>, StoreError> {
        (**self).history(address)
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

impl Store for MemoryStore {
    fn contacts(&mut self, addresses: &[&str]) -> Result<Vec<Option<Contact>>, StoreError> {
        Ok(addresses.iter().map(|a| self.contacts.get(*a).cloned()).collect())
    }

    fn processed(&mut self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        Ok(ids.iter().map(|i| self.events.contains(*i)).collect())
    }

    fn commit(&mut self, batch: &Commit) -> Result<(), StoreError> {
        for c in &batch.contacts {
            self.contacts.insert(c.address.clone(), c.clone());
        }
        for e in &batch.events {
            self.events.insert(e.clone());
        }
        self.log.extend(batch.log.iter().cloned());
        Ok(())
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
