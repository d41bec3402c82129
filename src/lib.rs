//! Rebound: a rule engine, with its own policy language, for interpreting
//! email bounces.
//!
//! The pipeline runs one way:
//!
//! ```text
//! policy text ──syntax──▶ AST ──compile──▶ Policy ──eval──▶ Verdict ──lifecycle──▶ Transition ──▶ Store
//! ```
//!
//! - [`syntax`] turns the text of a `.rebound` file into a spanned AST; it is
//!   the only module that knows the pest grammar (`grammar/rebound.pest`).
//! - [`compile`] turns the files of a policy into a checked [`Policy`], in
//!   named stages, with located [`Diagnostic`]s.
//! - [`fmt`] prints a file in canonical layout.
//! - [`load`] reads policies from directories, files, or the shipped policy
//!   embedded in the binary.
//! - [`eval`] classifies events; [`lifecycle`] runs contacts through their
//!   states into a [`store`]; [`reload`] keeps a live policy; [`serve`] is
//!   the HTTP service.
//! - [`script`] runs rhai scripts from policies in one hardened, bounded
//!   engine, and the host's predicates; [`Engine`] ([`embed`]) is the entry
//!   point for programs that embed Rebound (see `docs/embedding.md`).
//!
//! ```
//! let compiled = rebound::compile_str("example.rebound", r#"
//!     rule unknown_user {
//!       when status 5.1.1 or text contains "user unknown"
//!       then hard user_unknown
//!     }
//! "#);
//! assert!(!compiled.has_errors());
//! let policy = compiled.policy.unwrap();
//! assert_eq!(policy.global_rules()[0].id, "unknown_user");
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![deny(missing_docs)]

pub mod cli;
pub mod compile;
pub mod diag;
pub mod diff;
pub mod docgen;
pub mod embed;
pub mod eval;
pub mod event;
pub mod fmt;
pub mod ingest;
pub mod lifecycle;
pub mod load;
pub mod measure;
pub mod model;
pub mod policy;
pub mod reload;
pub mod script;
pub mod serve;
pub mod store;
pub mod syntax;
pub mod testing;

pub use compile::{Compiled, compile, compile_str, compile_with};
pub use diag::{Diagnostic, Severity, Sources};
pub use embed::Engine;
pub use load::Layer;
pub use model::{Class, Phase, Scope};
pub use policy::Policy;
