//! rhai scripts in policies, and functions the host registers.
//!
//! One hardened engine per policy: `Engine::new_raw()` plus the standard
//! package only (strings, numbers, arrays, maps, logic — no file, network,
//! process or module access); `eval` and `import` are disabled, `print` and
//! `debug` go nowhere, and every resource is bounded by [`Limits`]: operations,
//! call depth, expression depth, string, array and map sizes, and a
//! wall-clock budget. Scripts are compiled when the policy is loaded, so a
//! syntax error is a policy diagnostic at the `.rebound` file's line and
//! column. At run time a script that fails or exceeds a limit makes its rule
//! not match; the error is counted ([`Runtime::errors`]) and shown by
//! `explain`, and the event goes on.
//!
//! Scripts see one variable, `ctx` (a [`ScriptContext`]): the normalised
//! response, the event's extra fields, and in the lifecycle the contact.
//! Host predicates ([`Host::register_predicate`]) are callable from
//! conditions (`call is_vip`) and from scripts (`is_vip(ctx)` or
//! `ctx.is_vip()`).
//!
//! Every value a script reads from `ctx` is cut to fit the limits
//! ([`bounded`], [`bounded_json`]): rhai refuses a value past them, so an
//! answer longer than [`Limits::max_string_size`] would otherwise make every
//! script that reads `ctx.text` fail, and its rule never match. Scripts can
//! tell: `ctx.text_truncated`, and `ctx.truncated` names the fields cut.
//! Host predicates, in Rust, see the values whole.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, Scope};

/// The bounds every script runs within. Each is a named setting, documented
/// in `docs/language.md`, with a test that crosses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Operations per evaluation (rhai's operation count).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions (and of statements in functions).
    pub max_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Items in one array.
    pub max_array_size: usize,
    /// Entries in one map.
    pub max_map_size: usize,
    /// Wall-clock time per evaluation.
    pub wall_clock: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: 100_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_string_size: 16 * 1024,
            max_array_size: 1_024,
            max_map_size: 256,
            wall_clock: Duration::from_millis(20),
        }
    }
}

/// What a script or a host predicate sees about one event.
#[derive(Debug, Clone, Default)]
pub struct ScriptContext {
    /// The reply code.
    pub code: Option<u16>,
    /// The enhanced status code (`5.1.1`).
    pub status: Option<String>,
    /// The nested reply's code.
    pub inner_code: Option<u16>,
    /// The nested reply's status.
    pub inner_status: Option<String>,
    /// The receiver's words.
    pub text: String,
    /// The text folded (lowercase, single spaces).
    pub folded: String,
    /// The receiver chosen.
    pub receiver: Option<String>,
    /// The MX host.
    pub mx: Option<String>,
    /// The SMTP phase.
    pub phase: Option<String>,
    /// The recipient's address.
    pub recipient: String,
    /// The recipient's domain.
    pub domain: String,
    /// The normalisation flags.
    pub flags: Vec<String>,
    /// The event line, for its extra fields (parsed only when a script asks).
    pub event_json: Option<Arc<str>>,
    /// In the lifecycle: the contact's state.
    pub contact: Option<ContactView>,
}

/// The contact, as lifecycle scripts see it.
#[derive(Debug, Clone, Default)]
pub struct ContactView {
    /// `delivery` state.
    pub delivery: String,
    /// `consent` state.
    pub consent: String,
    /// Strikes in the current run.
    pub strikes: u32,
    /// The strike history as JSON (campaign, at, class, reason, receiver, reset).
    pub history: serde_json::Value,
}

impl ScriptContext {
    /// The event's fields that Rebound does not read itself (`last_open`, …).
    pub fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = match self.event_json.as_deref().map(serde_json::from_str::<serde_json::Value>) {
            Some(Ok(serde_json::Value::Object(m))) => m,
            _ => serde_json::Map::new(),
        };
        for known in [
            "id",
            "type",
            "recipient",
            "campaign",
            "at",
            "code",
            "status",
            "text",
            "mx",
            "phase",
            "optin",
            "feedback_type",
        ] {
            m.remove(known);
        }
        m
    }
}

/// A host predicate: a Rust function a policy calls by name.
pub type Predicate = Arc<dyn Fn(&ScriptContext) -> bool + Send + Sync>;

/// What the embedding program offers policies: predicates and limits.
#[derive(Clone, Default)]
pub struct Host {
    predicates: BTreeMap<String, Predicate>,
    limits: Limits,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("predicates", &self.predicates.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Host {
    /// No predicates, default limits.
    pub fn new() -> Host {
        Host::default()
    }

    /// Registers a predicate that policies call as `call NAME` in a condition
    /// and as `NAME(ctx)` in a script.
    pub fn register_predicate(
        &mut self,
        name: &str,
        f: impl Fn(&ScriptContext) -> bool + Send + Sync + 'static,
    ) -> &mut Host {
        self.predicates.insert(name.to_string(), Arc::new(f));
        self
    }

    /// Replaces the script limits.
    pub fn set_limits(&mut self, limits: Limits) -> &mut Host {
        self.limits = limits;
        self
    }

    /// The script limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A registered predicate.
    pub fn predicate(&self, name: &str) -> Option<Predicate> {
        self.predicates.get(name).cloned()
    }

    /// The names of the registered predicates.
    pub fn predicate_names(&self) -> impl Iterator<Item = &str> {
        self.predicates.keys().map(String::as_str)
    }
}

/// The script context as a rhai value.
#[derive(Clone)]
struct Ctx(Arc<ScriptContext>);

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A compiled script and its source.
#[derive(Debug, Clone)]
pub struct Script {
    /// The compiled script.
    pub ast: rhai::AST,
    /// The source, for explain.
    pub source: String,
}

/// The hardened engine of one policy.
pub struct Runtime {
    engine: Engine,
    limits: Limits,
    errors: AtomicU64,
    host: Host,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).field("errors", &self.errors).finish()
    }
}

/// A script error at a place in the script: message, 1-based line and column.
pub type ScriptError = (String, usize, usize);

fn opt_int(v: Option<u16>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |c| Dynamic::from(i64::from(c)))
}

fn opt_str(v: &Option<String>, max: usize) -> Dynamic {
    v.as_ref().map_or(Dynamic::UNIT, |s| Dynamic::from(bounded(s, max).to_string()))
}

/// `s` cut to at most `max` bytes, at a char boundary: what a script sees of
/// a string longer than [`Limits::max_string_size`].
pub fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    s.get(..end).unwrap_or("")
}

/// `v` cut to fit the limits as a whole (rhai adds up the array items, map
/// entries and string bytes of everything inside an array or a map), and
/// whether anything was cut. Items and entries are kept in order up to the
/// array and map limits; then the strings share the string limit: short
/// ones stay whole and only the longest are cut, all to the same length (at
/// a char boundary), so a long field does not crowd out the short ones.
pub fn bounded_json(v: &serde_json::Value, limits: &Limits) -> (serde_json::Value, bool) {
    let mut counts = (limits.max_array_size, limits.max_map_size);
    let mut cut = false;
    let mut kept = prune(v, &mut counts, &mut cut);
    let mut lengths = Vec::new();
    string_lengths(&kept, &mut lengths);
    let cap = string_cap(lengths, limits.max_string_size);
    cut |= cap_strings(&mut kept, cap);
    (kept, cut)
}

/// `v` with the items and entries past the array and map limits left out:
/// an array ends at the first item that does not fit; a map keeps going
/// without the entries whose array or map does not fit at all, so a big
/// field does not hide the small ones after it.
fn prune(v: &serde_json::Value, left: &mut (usize, usize), cut: &mut bool) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if left.0 == 0 || no_room(item, left) {
                    *cut = true;
                    break;
                }
                left.0 -= 1;
                out.push(prune(item, left, cut));
            }
            Value::Array(out)
        }
        Value::Object(entries) => {
            let mut out = serde_json::Map::new();
            for (k, item) in entries {
                if left.1 == 0 || no_room(item, left) {
                    *cut = true;
                    if left.1 == 0 {
                        break;
                    }
                    continue;
                }
                left.1 -= 1;
                out.insert(k.clone(), prune(item, left, cut));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Whether not one item or entry of `v` (a non-empty array or map) fits.
fn no_room(v: &serde_json::Value, left: &(usize, usize)) -> bool {
    use serde_json::Value;
    match v {
        Value::Array(items) => !items.is_empty() && left.0 == 0,
        Value::Object(entries) => !entries.is_empty() && left.1 == 0,
        _ => false,
    }
}

fn string_lengths(v: &serde_json::Value, out: &mut Vec<usize>) {
    use serde_json::Value;
    match v {
        Value::String(s) => out.push(s.len()),
        Value::Array(items) => items.iter().for_each(|x| string_lengths(x, out)),
        Value::Object(entries) => entries.values().for_each(|x| string_lengths(x, out)),
        _ => {}
    }
}

/// The longest a string may stay so that all of them fit in `budget` bytes,
/// shorter ones whole (`usize::MAX` when all fit as they are).
fn string_cap(mut lengths: Vec<usize>, budget: usize) -> usize {
    lengths.sort_unstable();
    let mut left = budget;
    let n = lengths.len();
    for (i, len) in lengths.into_iter().enumerate() {
        let rest = n - i;
        if len.saturating_mul(rest) > left {
            return left / rest;
        }
        left -= len;
    }
    usize::MAX
}

/// Cuts every string of `v` to `cap` bytes; whether one was cut.
fn cap_strings(v: &mut serde_json::Value, cap: usize) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) if s.len() > cap => {
            *s = bounded(s, cap).to_string();
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |cut, x| cap_strings(x, cap) | cut),
        Value::Object(entries) => entries.values_mut().fold(false, |cut, x| cap_strings(x, cap) | cut),
        _ => false,
    }
}

/// The strike history cut like [`bounded_json`], but keeping the latest
/// marks when there are too many.
fn bounded_history(history: &serde_json::Value, limits: &Limits) -> (serde_json::Value, bool) {
    let serde_json::Value::Array(marks) = history else { return bounded_json(history, limits) };
    let latest_first = serde_json::Value::Array(marks.iter().rev().cloned().collect());
    let (mut kept, cut) = bounded_json(&latest_first, limits);
    if let serde_json::Value::Array(marks) = &mut kept {
        marks.reverse();
    }
    (kept, cut)
}

/// A JSON value for a script, cut to the limits.
fn json_for_script(v: &serde_json::Value, limits: &Limits) -> Dynamic {
    rhai::serde::to_dynamic(bounded_json(v, limits).0).unwrap_or(Dynamic::UNIT)
}

impl ScriptContext {
    /// The flags as a JSON array, for cutting like the other values.
    fn flags_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.flags.iter().map(|f| serde_json::Value::String(f.clone())).collect())
    }

    /// Whether scripts see the text, or the folded text, cut.
    pub fn text_truncated(&self, limits: &Limits) -> bool {
        self.text.len() > limits.max_string_size || self.folded.len() > limits.max_string_size
    }

    /// The names of the fields scripts see cut to the limits, in a fixed order.
    pub fn truncated(&self, limits: &Limits) -> Vec<&'static str> {
        let max = limits.max_string_size;
        let contact = self.contact.as_ref();
        let strings: [(&'static str, Option<&String>); 11] = [
            ("text", Some(&self.text)),
            ("folded", Some(&self.folded)),
            ("status", self.status.as_ref()),
            ("inner_status", self.inner_status.as_ref()),
            ("receiver", self.receiver.as_ref()),
            ("mx", self.mx.as_ref()),
            ("phase", self.phase.as_ref()),
            ("recipient", Some(&self.recipient)),
            ("domain", Some(&self.domain)),
            ("delivery", contact.map(|c| &c.delivery)),
            ("consent", contact.map(|c| &c.consent)),
        ];
        let mut out: Vec<&'static str> =
            strings.iter().filter(|(_, v)| v.is_some_and(|s| s.len() > max)).map(|(name, _)| *name).collect();
        for (name, v) in [("flags", self.flags_json()), ("extra", serde_json::Value::Object(self.extra()))] {
            if bounded_json(&v, limits).1 {
                out.push(name);
            }
        }
        if contact.is_some_and(|c| bounded_history(&c.history, limits).1) {
            out.push("history");
        }
        out
    }
}

impl Runtime {
    /// The one hardening function: a raw engine, vetted packages, every limit set.
    pub fn new(host: &Host) -> Runtime {
        use rhai::packages::Package;
        let limits = host.limits;
        let mut engine = Engine::new_raw();
        engine.register_global_module(rhai::packages::StandardPackage::new().as_shared_module());
        engine.disable_symbol("eval");
        engine.disable_symbol("import");
        engine.disable_symbol("export");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.set_max_modules(0);
        engine.on_progress(|ops| {
            if ops % 64 != 0 {
                return None;
            }
            let late = DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() > t));
            late.then(|| Dynamic::from("the script ran out of its wall-clock budget"))
        });
        Runtime::register_context(&mut engine, limits);
        for (name, f) in &host.predicates {
            let f = f.clone();
            engine.register_fn(name.as_str(), move |c: &mut Ctx| f(&c.0));
        }
        Runtime { engine, limits, errors: AtomicU64::new(0), host: host.clone() }
    }

    /// `ctx` and its properties, every value cut to the limits.
    fn register_context(engine: &mut Engine, limits: Limits) {
        let max = limits.max_string_size;
        let text = move |s: &String| bounded(s, max).to_string();
        engine.register_type_with_name::<Ctx>("Context");
        engine.register_get("code", |c: &mut Ctx| opt_int(c.0.code));
        engine.register_get("status", move |c: &mut Ctx| opt_str(&c.0.status, max));
        engine.register_get("status_class", |c: &mut Ctx| part(&c.0.status, 0));
        engine.register_get("status_subject", |c: &mut Ctx| part(&c.0.status, 1));
        engine.register_get("status_detail", |c: &mut Ctx| part(&c.0.status, 2));
        engine.register_get("inner_code", |c: &mut Ctx| opt_int(c.0.inner_code));
        engine.register_get("inner_status", move |c: &mut Ctx| opt_str(&c.0.inner_status, max));
        engine.register_get("text", move |c: &mut Ctx| text(&c.0.text));
        engine.register_get("folded", move |c: &mut Ctx| text(&c.0.folded));
        engine.register_get("text_truncated", move |c: &mut Ctx| c.0.text_truncated(&limits));
        engine.register_get("truncated", move |c: &mut Ctx| {
            c.0.truncated(&limits).into_iter().map(Dynamic::from).collect::<rhai::Array>()
        });
        engine.register_get("receiver", move |c: &mut Ctx| opt_str(&c.0.receiver, max));
        engine.register_get("mx", move |c: &mut Ctx| opt_str(&c.0.mx, max));
        engine.register_get("phase", move |c: &mut Ctx| opt_str(&c.0.phase, max));
        engine.register_get("recipient", move |c: &mut Ctx| text(&c.0.recipient));
        engine.register_get("domain", move |c: &mut Ctx| text(&c.0.domain));
        engine.register_get("flags", move |c: &mut Ctx| json_for_script(&c.0.flags_json(), &limits));
        engine.register_get("extra", move |c: &mut Ctx| {
            json_for_script(&serde_json::Value::Object(c.0.extra()), &limits)
        });
        engine.register_get("delivery", move |c: &mut Ctx| {
            c.0.contact.as_ref().map_or(Dynamic::UNIT, |k| Dynamic::from(text(&k.delivery)))
        });
        engine.register_get("consent", move |c: &mut Ctx| {
            c.0.contact.as_ref().map_or(Dynamic::UNIT, |k| Dynamic::from(text(&k.consent)))
        });
        engine.register_get("strikes", |c: &mut Ctx| {
            c.0.contact.as_ref().map_or(Dynamic::UNIT, |k| Dynamic::from(i64::from(k.strikes)))
        });
        engine.register_get("history", move |c: &mut Ctx| {
            c.0.contact.as_ref().map_or(Dynamic::UNIT, |k| {
                rhai::serde::to_dynamic(bounded_history(&k.history, &limits).0).unwrap_or(Dynamic::UNIT)
            })
        });
    }

    /// The host this runtime was built for.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Scripts that failed or exceeded a limit so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Compiles a script; a syntax error comes with its line and column in the script.
    pub fn compile(&self, source: &str) -> Result<Script, ScriptError> {
        match self.engine.compile(source) {
            Ok(ast) => Ok(Script { ast, source: source.to_string() }),
            Err(e) => {
                let p = e.position();
                Err((e.err_type().to_string(), p.line().unwrap_or(1), p.position().unwrap_or(1)))
            }
        }
    }

    /// The functions a script calls that neither the script, the standard
    /// package, the context nor the host defines: (name, line, column).
    pub fn unknown_functions(&self, script: &Script) -> Vec<ScriptError> {
        use rhai::{ASTNode, Expr, Stmt};
        let mut known: BTreeSet<String> = self
            .engine
            .gen_fn_signatures(true)
            .iter()
            .filter_map(|s| s.split('(').next().map(|n| n.trim_start_matches("fn ").trim().to_string()))
            .collect();
        known.extend(script.ast.iter_functions().map(|f| f.name.to_string()));
        known.extend(self.host.predicates.keys().cloned());
        for builtin in ["type_of", "is_def_fn", "is_def_var", "is_shared", "Fn", "call", "curry", "print", "debug"] {
            known.insert(builtin.to_string());
        }
        let mut unknown = Vec::new();
        script.ast.walk(&mut |path: &[ASTNode]| {
            let call = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(call, pos) | Expr::MethodCall(call, pos))) => Some((call, pos)),
                Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, pos)),
                _ => None,
            };
            if let Some((call, pos)) = call {
                let name = call.name.as_str();
                if !known.contains(name) && !name.starts_with("get$") && !name.starts_with("set$") && !is_operator(name)
                {
                    unknown.push((name.to_string(), pos.line().unwrap_or(1), pos.position().unwrap_or(1)));
                }
            }
            true
        });
        unknown
    }

    fn run(&self, script: &Script, ctx: &Arc<ScriptContext>) -> Result<Dynamic, String> {
        let mut scope = Scope::new();
        scope.push_constant("ctx", Ctx(ctx.clone()));
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.wall_clock)));
        let result = self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast);
        DEADLINE.with(|d| d.set(None));
        result.map_err(|e| {
            self.errors.fetch_add(1, Ordering::Relaxed);
            e.to_string()
        })
    }

    /// Runs a condition script: it must end in `true` or `false`.
    pub fn eval_bool(&self, script: &Script, ctx: &Arc<ScriptContext>) -> Result<bool, String> {
        let v = self.run(script, ctx)?;
        v.as_bool().map_err(|t| {
            self.errors.fetch_add(1, Ordering::Relaxed);
            format!("a condition script must end in true or false, not a {t}")
        })
    }

    /// Runs an outcome script: it ends in `"CLASS REASON [scope SCOPE]"`, or
    /// `()`/`false` to let the rule not match.
    pub fn eval_outcome(&self, script: &Script, ctx: &Arc<ScriptContext>) -> Result<Option<String>, String> {
        let v = self.run(script, ctx)?;
        if v.is_unit() || v.as_bool() == Ok(false) {
            return Ok(None);
        }
        v.into_string().map(Some).map_err(|t| {
            self.errors.fetch_add(1, Ordering::Relaxed);
            format!("an outcome script must end in a string like \"soft mailbox_full\", not a {t}")
        })
    }

    /// Counts a failure found outside the engine (an invalid outcome).
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The places where a script assigns through an index (`m[k] = v`,
    /// `a[i] += 1`, `x.m[k] = v`): (the target, line, column). Rhai does not
    /// check `max_map_size` when such an assignment adds a key, so a loop
    /// could grow a map until the operation budget runs out; Rebound refuses
    /// the form and asks for `m.set(k, v)`, which is checked.
    pub fn index_assignments(script: &Script) -> Vec<ScriptError> {
        use rhai::{ASTNode, Expr, Stmt};
        fn has_index(e: &Expr) -> bool {
            match e {
                Expr::Index(..) => true,
                Expr::Dot(x, ..) => has_index(&x.lhs) || has_index(&x.rhs),
                _ => false,
            }
        }
        let mut out = Vec::new();
        script.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Stmt(Stmt::Assignment(x))) = path.last() {
                let (op, bin) = &**x;
                if has_index(&bin.lhs) {
                    let pos = op.position();
                    let pos = if pos.is_none() { bin.lhs.start_position() } else { pos };
                    out.push(("[…] =".to_string(), pos.line().unwrap_or(1), pos.position().unwrap_or(1)));
                }
            }
            true
        });
        out
    }

    /// The string literals of a script (outcome scripts are checked through them).
    pub fn string_literals(script: &Script) -> Vec<(String, usize, usize)> {
        use rhai::{ASTNode, Expr};
        let mut out = Vec::new();
        script.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::StringConstant(s, pos))) = path.last() {
                out.push((s.to_string(), pos.line().unwrap_or(1), pos.position().unwrap_or(1)));
            }
            true
        });
        out
    }
}

fn part(status: &Option<String>, i: usize) -> Dynamic {
    status
        .as_deref()
        .and_then(|s| s.split('.').nth(i))
        .and_then(|p| p.parse::<i64>().ok())
        .map_or(Dynamic::UNIT, Dynamic::from)
}

fn is_operator(name: &str) -> bool {
    name.chars().all(|c| !c.is_alphanumeric() && c != '_')
}

/// A byte offset in `source` for a 1-based line and column.
pub fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col: usize = l.chars().take(column.saturating_sub(1)).map(char::len_utf8).sum();
            return offset + col;
        }
        offset += l.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings share the string limit: the short ones stay whole, the long
    /// ones are cut to the same length.
    #[test]
    fn strings_share_the_string_limit() {
        let limits = Limits { max_string_size: 100, ..Limits::default() };
        let v = serde_json::json!({"plan": "pro", "a": "x".repeat(500), "b": ["y".repeat(60), 7], "c": "z".repeat(40)});
        let (cut, was_cut) = bounded_json(&v, &limits);
        assert!(was_cut);
        // 3 bytes for `pro`, (100 - 3) / 3 = 32 for each of the others.
        let want =
            serde_json::json!({"plan": "pro", "a": "x".repeat(32), "b": ["y".repeat(32), 7], "c": "z".repeat(32)});
        assert_eq!(cut, want);
        assert_eq!(bounded_json(&want, &limits), (want.clone(), false));
    }

    #[test]
    fn strings_are_cut_at_a_char_boundary() {
        for (s, max, want) in [("abc", 3, "abc"), ("abcd", 3, "abc"), ("aé", 2, "a"), ("aé", 3, "aé"), ("é", 1, "")]
        {
            assert_eq!(bounded(s, max), want, "{s:?} to {max}");
        }
    }

    /// A long strike history (maps inside an array: rhai counts every entry
    /// of every map) reaches a lifecycle script cut, not as an error.
    #[test]
    fn a_long_history_is_cut_to_the_limits() {
        let limits = Limits::default();
        let mark = serde_json::json!({"campaign": "c", "at": "2026-01-01", "class": "soft", "reason": "mailbox_full"});
        let history = serde_json::Value::Array(vec![mark; limits.max_map_size]);
        let (cut, was_cut) = bounded_json(&history, &limits);
        assert!(was_cut);
        // 4 entries a mark: the latest marks that fit, every one whole.
        let marks = cut.as_array().cloned().unwrap_or_default();
        assert_eq!(marks.len(), limits.max_map_size / 4);
        assert!(marks.iter().all(|m| m.as_object().map(serde_json::Map::len) == Some(4)));
        let ctx = ScriptContext {
            contact: Some(ContactView { history, ..ContactView::default() }),
            ..ScriptContext::default()
        };
        let rt = Runtime::new(&Host::new());
        let script = rt.compile("ctx.history.len() > 0 && ctx.truncated == [\"history\"]").unwrap();
        assert_eq!(rt.eval_bool(&script, &Arc::new(ctx)), Ok(true));
    }
}
