//! The embedding API: one entry point for a Rust program that runs Rebound.
//!
//! ```
//! use rebound::Engine;
//! use rebound::event::Event;
//!
//! let mut engine = Engine::new();
//! engine.register_predicate("is_vip", |ctx| ctx.recipient.ends_with("@vip.example"));
//! let policy = engine
//!     .load_str("custom.rebound", r#"
//!         rule vip_mailbox_full {
//!           when call is_vip and status 5.2.2
//!           then defer mailbox_full scope recipient
//!         }
//!         rule quota {
//!           when status 5.2.2
//!           then soft mailbox_full
//!         }
//!     "#)
//!     .expect("the policy compiles");
//! let vip = Event::bounce("ceo@vip.example", Some(552), Some("5.2.2"), "Mailbox full");
//! assert_eq!(policy.classify(&vip).class, rebound::Class::Defer);
//! let other = Event::bounce("someone@example.org", Some(552), Some("5.2.2"), "Mailbox full");
//! assert_eq!(policy.classify(&other).class, rebound::Class::Soft);
//! ```
//!
//! The rest of the API is what the engine hands out: [`Policy`] (classify,
//! `classify_traced`), [`crate::reload::LivePolicy`] (watch and swap, reload
//! events), [`crate::lifecycle::runner::Runner`] with any
//! [`crate::store::Store`] (the lifecycle), and [`Compiled`] (diagnostics).

use std::path::Path;

pub use crate::load::Layer;

use crate::compile::{Compiled, compile_with};
use crate::policy::Policy;
use crate::reload::LivePolicy;
use crate::script::{Host, Limits, ScriptContext};

/// Loads and checks policies with the host's predicates and script limits.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    host: Host,
}

impl Engine {
    /// An engine with no predicates and the default script limits.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Registers a predicate policies call as `call NAME` (in conditions)
    /// and `NAME(ctx)` (in scripts). A policy that calls a name no one
    /// registered fails its check.
    pub fn register_predicate(
        &mut self,
        name: &str,
        f: impl Fn(&ScriptContext) -> bool + Send + Sync + 'static,
    ) -> &mut Engine {
        self.host.register_predicate(name, f);
        self
    }

    /// Replaces the script limits.
    pub fn set_script_limits(&mut self, limits: Limits) -> &mut Engine {
        self.host.set_limits(limits);
        self
    }

    /// The predicates and limits policies are compiled with.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Checks the policy at a path (a file or a directory): diagnostics, and
    /// the policy when there is no error. Files that say `extends shipped`
    /// sit on the shipped policy.
    pub fn check_path(&self, path: &Path) -> Compiled {
        self.check_layers(&[Layer::Path(path.to_path_buf())])
    }

    /// Checks a policy of layers, lowest first (`[Layer::Shipped,
    /// Layer::Path("local".into())]`): later layers take precedence and may
    /// `replace`, `disable` and `extend` what is below them.
    pub fn check_layers(&self, layers: &[Layer]) -> Compiled {
        crate::load::compile_layers_with(layers, &self.host)
    }

    /// Loads a policy of layers, or returns the report of its errors.
    pub fn load_layers(&self, layers: &[Layer]) -> Result<Policy, Box<Compiled>> {
        take(self.check_layers(layers))
    }

    /// Checks a policy given as text.
    pub fn check_str(&self, name: &str, text: &str) -> Compiled {
        let mut sources = crate::diag::Sources::new();
        sources.add(name, name, text.to_string());
        compile_with(sources, Vec::new(), &self.host)
    }

    /// Loads the policy at a path, or returns the report of its errors.
    pub fn load_path(&self, path: &Path) -> Result<Policy, Box<Compiled>> {
        take(self.check_path(path))
    }

    /// Loads a policy given as text.
    pub fn load_str(&self, name: &str, text: &str) -> Result<Policy, Box<Compiled>> {
        take(self.check_str(name, text))
    }

    /// Loads the shipped policy.
    pub fn load_shipped(&self) -> Result<Policy, Box<Compiled>> {
        take(self.check_layers(&[Layer::Shipped]))
    }

    /// A live policy at a path: reloadable (`reload`, `watch`, SIGHUP), built
    /// with this engine's predicates and limits.
    pub fn live(&self, path: &Path) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::open_with(path, self.host.clone())
    }

    /// A live policy of layers, built with this engine's predicates and
    /// limits; the directories among the layers are watched.
    pub fn live_layers(&self, layers: &[Layer]) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::open_layers(layers, self.host.clone())
    }
}

fn take(mut compiled: Compiled) -> Result<Policy, Box<Compiled>> {
    match compiled.policy.take() {
        Some(p) => Ok(p),
        None => Err(Box::new(compiled)),
    }
}
