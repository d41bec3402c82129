//! Verdicts and events → contact transitions: the lifecycle engine.
//!
//! [`model`] is the compiled lifecycle; [`engine`] is the pure core
//! `(contact, event, verdict, lifecycle) → (contact, record)`, with no
//! database; [`runner`] feeds a stream of events through it in batches and
//! commits them to a [`crate::store::Store`].

pub mod engine;
pub mod model;
pub mod runner;
