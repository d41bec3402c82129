//! Scripts and host functions: what scripts see, what they may not do, every
//! limit crossed, and errors that make a rule not match without stopping
//! anything.

use std::time::Duration;

use rebound::Engine;
use rebound::event::Event;
use rebound::script::Limits;

/// A policy with one script rule before a fallback rule.
fn policy_with(engine: &Engine, when: &str) -> rebound::Policy {
    let text = format!(
        "rule scripted {{\n  when script \"\"\"\n{when}\n\"\"\"\n  then block policy_violation\n}}\n\nrule fallback {{\n  when code 5xx\n  then soft on_hold\n}}\n"
    );
    match engine.load_str("scripts.rebound", &text) {
        Ok(p) => p,
        Err(c) => panic!("{}", c.diagnostics.iter().map(|d| c.sources.render(d)).collect::<String>()),
    }
}

fn event(line: &str) -> Event<'_> {
    Event::parse(line).unwrap()
}

const LINE: &str = r#"{"id":"x1","recipient":"Pat@Example.org","code":550,"status":"5.7.1","text":"550-5.7.1 Blocked by policy 550 5.7.1 see https://example.org","mx":"mx1.example.org","phase":"rcpt","last_open":"2026-11-20","plan":"enterprise","opens":12}"#;

#[test]
fn scripts_see_the_response_and_the_event() {
    let engine = Engine::new();
    let checks = [
        "ctx.code == 550",
        "ctx.status == \"5.7.1\" && ctx.status_class == 5 && ctx.status_subject == 7 && ctx.status_detail == 1",
        "ctx.text.contains(\"Blocked by policy\")",
        "ctx.folded.contains(\"blocked by policy\")",
        "ctx.mx == \"mx1.example.org\" && ctx.phase == \"rcpt\"",
        "ctx.recipient == \"Pat@Example.org\" && ctx.domain == \"example.org\"",
        "ctx.flags.contains(\"multiline\")",
        "ctx.extra.plan == \"enterprise\" && ctx.extra.opens > 10 && ctx.extra.last_open.starts_with(\"2026-\")",
        "ctx.receiver == ()",
        "let n = 0; for f in ctx.flags { n += 1; } n >= 1",
        "fn big(x) { x > 500 } big(ctx.code)",
    ];
    let e = event(LINE);
    for check in checks {
        let p = policy_with(&engine, check);
        let v = p.classify(&e);
        assert_eq!(v.rule, Some("scripted"), "`{check}` should hold; {:?}", p.classify_traced(&e).1.tried);
    }
}

#[test]
fn outcome_scripts_decide_and_are_validated_at_run_time() {
    let engine = Engine::new();
    let policy = engine
        .load_str(
            "o.rebound",
            r#"
rule by_plan {
  when code 5xx
  then script """
    if ctx.extra.plan == "enterprise" { "defer rate_limited scope recipient" }
    else if ctx.extra.plan == "broken" { "hard " + ctx.extra.reason }
    else { () }
  """
}
rule fallback { when code 5xx then soft on_hold }
"#,
        )
        .unwrap();
    let v = policy.classify(&event(LINE));
    assert_eq!((v.class.as_str(), v.reason, v.rule), ("defer", "rate_limited", Some("by_plan")));
    let other = event(r#"{"recipient":"a@example.org","code":550,"plan":"free"}"#);
    assert_eq!(policy.classify(&other).rule, Some("fallback"), "a script that returns () declines");
    // Built at run time, the outcome is checked like a written one: hard cannot blame the sender.
    let broken = event(r#"{"recipient":"a@example.org","code":550,"plan":"broken","reason":"blocked"}"#);
    assert_eq!(policy.classify(&broken).rule, Some("fallback"));
    let (_, trace) = policy.classify_traced(&broken);
    assert!(trace.tried[0].why.contains("cannot blame the sender"), "{:?}", trace.tried[0]);
    assert!(policy.script_errors() >= 1);
}

#[test]
fn host_predicates_from_conditions_and_scripts() {
    let mut engine = Engine::new();
    engine.register_predicate("is_vip", |ctx| ctx.domain == "vip.example");
    let policy = engine
        .load_str(
            "h.rebound",
            r#"
rule vip_call { when call is_vip and status 5.2.2 then defer mailbox_full scope recipient }
rule vip_script { when script "is_vip(ctx) && ctx.code == 551" then defer has_moved scope recipient }
rule vip_method { when script "ctx.is_vip() && ctx.code == 553" then defer user_unknown scope recipient }
rule rest { when code 5xx then soft on_hold }
"#,
        )
        .unwrap();
    let vip = |code: u16, status: Option<&'static str>| Event::bounce("ceo@vip.example", Some(code), status, "x");
    assert_eq!(policy.classify(&vip(552, Some("5.2.2"))).rule, Some("vip_call"));
    assert_eq!(policy.classify(&vip(551, None)).rule, Some("vip_script"));
    assert_eq!(policy.classify(&vip(553, None)).rule, Some("vip_method"));
    assert_eq!(policy.classify(&Event::bounce("a@example.org", Some(552), Some("5.2.2"), "x")).rule, Some("rest"));
    // Without the host's function the same policy does not load.
    let Err(err) = Engine::new().load_str("h.rebound", "rule v { when call is_vip then block blocked }") else {
        panic!("loaded without the host function")
    };
    assert_eq!(err.diagnostics[0].code, "rebound::check::unknown_function");
}

#[test]
fn lifecycle_scripts_see_the_contact() {
    let engine = Engine::new();
    let text = r#"
lifecycle {
  states delivery: active, error
  states consent: single, opted_out
  transition hard_bounce { on hard if script "ctx.extra.opens == () || ctx.extra.opens < 5" delivery active -> error }
  transition second_soft { on soft if script "ctx.strikes >= 2 && ctx.history.len() >= 2 && ctx.delivery == \"active\"" delivery active -> error }
  transition unsubscribe { on unsubscribe consent * -> opted_out }
}
"#;
    let mut sources = rebound::load::shipped();
    let kept: Vec<_> = sources
        .files()
        .iter()
        .filter(|f| f.rel != "lifecycle.rebound")
        .map(|f| (f.name.clone(), f.rel.clone(), f.text.clone()))
        .collect();
    sources = rebound::Sources::new();
    for (n, r, t) in kept {
        sources.add(n, r, t);
    }
    sources.add("l.rebound", "l.rebound", text.to_string());
    let policy = rebound::compile_with(sources, Vec::new(), engine.host()).policy.expect("compiles");
    let run = |lines: &str| {
        let mut runner = rebound::lifecycle::runner::Runner::new(&policy, rebound::store::MemoryStore::new()).unwrap();
        let mut last = String::new();
        runner
            .run(
                lines.as_bytes(),
                |o| {
                    if let Some(x) = o.last() {
                        last = x.record.to.0.clone();
                    }
                    Ok(())
                },
                |_, _| Ok(()),
            )
            .unwrap();
        last
    };
    let hard = r#"{"id":"h","recipient":"a@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com","opens":9}"#;
    assert_eq!(run(hard), "active", "an engaged contact is not put in error by this policy's script");
    assert_eq!(run(&hard.replace("\"opens\":9", "\"opens\":1")), "error");
    let soft = |id: &str, c: &str| {
        format!(
            r#"{{"id":"{id}","recipient":"b@example.org","campaign":"{c}","code":552,"status":"5.2.2","text":"Mailbox full"}}"#
        )
    };
    assert_eq!(
        run(&[soft("s1", "c1"), soft("s2", "c2")].join("\n")),
        "active",
        "no strike rule declared: strikes stay 0"
    );
}

fn limited(limits: Limits) -> Engine {
    let mut e = Engine::new();
    e.set_script_limits(limits);
    e
}

/// Runs a script that should exceed a limit: the rule does not match, the
/// fallback decides, the error is counted and shown, nothing else stops.
fn crosses(engine: &Engine, script: &str, expect: &str) {
    let p = policy_with(engine, script);
    let e = event(LINE);
    let v = p.classify(&e);
    assert_eq!(v.rule, Some("fallback"), "`{script}` should fail");
    assert!(p.script_errors() >= 1);
    let (_, trace) = p.classify_traced(&e);
    let why = &trace.tried[0].why;
    assert!(why.to_lowercase().contains(expect), "`{script}`: {why}");
    // The engine goes on: the next event is classified.
    assert_eq!(p.classify(&Event::bounce("a@example.org", Some(554), None, "x")).rule, Some("fallback"));
}

#[test]
fn an_infinite_loop_hits_max_operations() {
    crosses(&limited(Limits { max_operations: 10_000, ..Limits::default() }), "loop { }", "too many operations");
}

#[test]
fn deep_recursion_hits_max_call_levels() {
    crosses(
        &limited(Limits { max_call_levels: 8, ..Limits::default() }),
        "fn f(n) { f(n + 1) } f(0)",
        "stack overflow",
    );
}

#[test]
fn a_huge_string_hits_max_string_size() {
    crosses(
        &limited(Limits { max_string_size: 1_000, ..Limits::default() }),
        "let s = \"x\"; for i in 0..20 { s += s; } true",
        "length of string",
    );
}

#[test]
fn a_huge_array_hits_max_array_size() {
    crosses(
        &limited(Limits { max_array_size: 100, ..Limits::default() }),
        "let a = []; for i in 0..1000 { a.push(i); } true",
        "size of array",
    );
}

#[test]
fn a_huge_map_hits_max_map_size() {
    crosses(
        &limited(Limits { max_map_size: 10, ..Limits::default() }),
        r#"let m = #{}; for i in 0..100 { m.set("k" + i, i); } true"#,
        "size of object map",
    );
}

#[test]
fn the_wall_clock_budget_stops_a_slow_script() {
    let engine =
        limited(Limits { max_operations: u64::MAX, wall_clock: Duration::from_millis(5), ..Limits::default() });
    crosses(&engine, "let x = 0; loop { x += 1; }", "terminated");
}

#[test]
fn deep_expressions_hit_max_expr_depth_when_loaded() {
    let engine = limited(Limits { max_expr_depth: 10, ..Limits::default() });
    let deep = format!("{}1{} == 1", "(".repeat(40), ")".repeat(40));
    let text = format!("rule d {{ when script \"{deep}\" then block blocked }}");
    let Err(err) = engine.load_str("deep.rebound", &text) else { panic!("a 40-deep expression loaded") };
    assert_eq!(err.diagnostics[0].code, "rebound::check::script_syntax");
    assert!(err.diagnostics[0].message.to_lowercase().contains("complex"), "{}", err.diagnostics[0].message);
}

#[test]
fn a_script_error_makes_the_rule_not_match() {
    crosses(&Engine::new(), "ctx.code / 0 == 1", "division by zero");
    crosses(&Engine::new(), "ctx.code + \"x\"", "must end in true or false");
}

#[test]
fn no_file_network_process_or_module_access() {
    for script in ["open(\"/etc/passwd\")", "import \"os\" as os; true", "system(\"ls\")", "eval(\"true\")"] {
        let text = format!("rule x {{ when script \"\"\"\n{script}\n\"\"\" then block blocked }}");
        let Err(err) = Engine::new().load_str("x.rebound", &text) else { panic!("`{script}` loaded") };
        let code = err.diagnostics[0].code;
        assert!(
            code == "rebound::check::unknown_function" || code == "rebound::check::script_syntax",
            "`{script}`: {code}"
        );
    }
}

#[test]
fn rules_without_scripts_build_no_engine() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    assert!(policy.runtime().is_none(), "the shipped policy pays nothing for scripts");
}

#[test]
fn script_errors_are_counted_across_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rebound");
    let policy = |extra: &str| {
        format!(
            "rule broken {{ when script \"ctx.code / 0 == 1\" then block blocked }}\nrule rest {{ when code 5xx then soft on_hold{extra} }}\n"
        )
    };
    std::fs::write(&file, policy("")).unwrap();
    let live = Engine::new().live(dir.path()).unwrap();
    let e = Event::bounce("a@example.org", Some(550), None, "x");
    assert_eq!(live.current().policy.classify(&e).rule, Some("rest"));
    assert_eq!(live.script_errors(), 1);
    std::fs::write(&file, policy(" scope recipient")).unwrap();
    assert!(live.reload().ok);
    assert_eq!(live.script_errors(), 1, "the old policy's errors are kept after the swap");
    live.current().policy.classify(&e);
    assert_eq!(live.script_errors(), 2);
}

#[test]
fn what_embedders_share_across_threads_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<rebound::Policy>();
    shared::<rebound::reload::LivePolicy>();
    shared::<Engine>();
}

/// Text longer than the string limit reaches scripts cut to the limit, at a
/// char boundary, with `ctx.text_truncated` set: a script rule still decides
/// on an answer of 100 KiB instead of failing on `ctx.text`.
#[test]
fn long_text_reaches_scripts_cut_to_the_string_limit() {
    let engine = Engine::new();
    let max = Limits::default().max_string_size;
    let cases = [
        (
            format!("550 5.7.1 Blocked by policy {}", "x".repeat(100 * 1024)),
            // The normalised text starts after the code and status.
            "ctx.text.starts_with(\"Blocked by policy\") && ctx.folded.starts_with(\"blocked by policy\") \
             && ctx.text_truncated && ctx.truncated.contains(\"text\") && ctx.truncated.contains(\"folded\")"
                .to_string(),
        ),
        ("x".repeat(max), format!("ctx.text.len() == {max} && !ctx.text_truncated && ctx.truncated.is_empty()")),
        ("x".repeat(max + 1), format!("ctx.text.len() == {max} && ctx.text_truncated")),
        // The cut would fall inside `é` (two bytes): it falls before it.
        (format!("{}é", "x".repeat(max - 1)), format!("ctx.text.len() == {} && ctx.text_truncated", max - 1)),
    ];
    for (text, script) in cases {
        let p = policy_with(&engine, &script);
        let e = Event::bounce("pat@example.org", Some(550), Some("5.7.1"), &text);
        let (v, trace) = p.classify_traced(&e);
        let why = trace.tried.first().map(|t| t.why.clone());
        assert_eq!(v.rule, Some("scripted"), "`{script}` on {} bytes: {why:?}", text.len());
        assert_eq!(p.classify(&e).rule, Some("scripted"));
        assert_eq!(p.script_errors(), 0);
    }
}

/// Every value a script reads is within the limits: each string is cut like
/// the text, and the event's extra fields, where rhai adds up the sizes of
/// everything inside, are cut to what the limits hold together.
#[test]
fn every_value_a_script_sees_is_within_the_limits() {
    let limits = Limits::default();
    let max = limits.max_string_size;
    let long = "m".repeat(max + 10);
    let mut line = serde_json::json!({
        "recipient": format!("pat@{long}.org"),
        "code": 550,
        "text": "blocked",
        "mx": format!("{long}.example"),
        "note": long,
        "plan": "pro",
        "tags": (0..2 * limits.max_array_size).collect::<Vec<_>>(),
    });
    for i in 0..2 * limits.max_map_size {
        line[format!("k{i}")] = serde_json::json!(i);
    }
    let line = line.to_string();
    let script = format!(
        "ctx.mx.len() == {max} && ctx.recipient.len() == {max} && ctx.domain.len() <= {max} \
         && ctx.extra.note.len() < {max} && ctx.extra.plan == \"pro\" \
         && ctx.extra.tags.len() <= {} && ctx.extra.len() <= {} \
         && !ctx.text_truncated && ctx.truncated.contains(\"mx\") && ctx.truncated.contains(\"recipient\") \
         && ctx.truncated.contains(\"extra\") && !ctx.truncated.contains(\"text\")",
        limits.max_array_size, limits.max_map_size
    );
    let p = policy_with(&Engine::new(), &script);
    let e = event(&line);
    let (v, trace) = p.classify_traced(&e);
    assert_eq!(v.rule, Some("scripted"), "{:?}", trace.tried.first().map(|t| &t.why));
    assert_eq!(p.script_errors(), 0);
}
