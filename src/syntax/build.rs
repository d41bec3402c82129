//! pest pairs → AST. Comments are collected on the side; every other pair
//! becomes a node with its span. The grammar guarantees the shapes matched
//! here; a shape it does not guarantee is an internal error reported as a
//! diagnostic, never a panic.

use pest::iterators::Pair;

use super::PestRule as R;
use super::ast::*;
use crate::diag::{Diagnostic, FileId, Span, codes};

type P<'i> = Pair<'i, R>;
type Res<T> = Result<T, Box<Diagnostic>>;

struct Ctx<'i> {
    file: FileId,
    text: &'i str,
}

impl Ctx<'_> {
    /// The span of a pair without the whitespace and comments that pest
    /// lets a sequence swallow after its last optional part.
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        let (start, mut end) = (s.start(), s.end());
        let comments: Vec<(usize, usize)> = p
            .clone()
            .into_inner()
            .flatten()
            .filter(|c| c.as_rule() == R::COMMENT)
            // Where the comment ends once its trailing whitespace is
            // trimmed, as the text before it is below.
            .map(|c| (c.as_span().start(), c.as_span().start() + c.as_str().trim_end().len()))
            .collect();
        loop {
            let trimmed = self.text.get(start..end).unwrap_or("").trim_end();
            end = start + trimmed.len();
            match comments.iter().find(|c| c.1 == end) {
                Some(c) => end = c.0,
                None => break,
            }
        }
        Span::new(self.file, start..end)
    }

    fn word(&self, p: &P) -> Word {
        Spanned::new(p.as_str().to_string(), self.span(p))
    }

    fn bug(&self, p: &P, what: &str) -> Box<Diagnostic> {
        Box::new(Diagnostic::error(codes::SYNTAX, self.span(p), format!("internal parser error: {what}")))
    }
}

/// The children of a pair, without comments.
fn kids<'i>(p: &P<'i>) -> impl Iterator<Item = P<'i>> {
    p.clone().into_inner().filter(|c| c.as_rule() != R::COMMENT)
}

fn next<'i>(cx: &Ctx, parent: &P<'i>, it: &mut impl Iterator<Item = P<'i>>) -> Res<P<'i>> {
    it.next().ok_or_else(|| cx.bug(parent, "missing part"))
}

pub(super) fn file(file: FileId, text: &str, policy: P) -> Res<File> {
    let cx = Ctx { file, text };
    let comments = policy
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| p.as_rule() == R::COMMENT)
        .map(|p| Comment { text: comment_text(p.as_str()), span: cx.span(&p) })
        .collect();
    let mut items = Vec::new();
    for p in kids(&policy) {
        match p.as_rule() {
            R::reason_decl => items.push(Item::Reason(reason(&cx, &p)?)),
            R::statuses => items.push(Item::Statuses(table(&cx, &p)?)),
            R::replies => items.push(Item::Replies(table(&cx, &p)?)),
            R::rule_decl => items.push(Item::Rule(rule(&cx, &p)?)),
            R::receiver_decl => items.push(Item::Receiver(receiver(&cx, &p)?)),
            R::lifecycle_decl => items.push(Item::Lifecycle(lifecycle(&cx, &p)?)),
            R::example_decl => items.push(Item::Example(example(&cx, &p)?)),
            R::scenario_decl => items.push(Item::Scenario(scenario(&cx, &p)?)),
            R::phrases_decl => items.push(Item::Phrases(phrases(&cx, &p)?)),
            R::stoplist_decl => items.push(Item::Stoplist(stoplist(&cx, &p)?)),
            R::extends_decl => {
                let name = next(&cx, &p, &mut kids(&p).skip(1))?;
                items.push(Item::Extends(cx.word(&name), cx.span(&p)));
            }
            R::replace_rule => items.push(Item::ReplaceRule(rule_after(&cx, &p, 2)?)),
            R::replace_lifecycle => items.push(Item::ReplaceLifecycle(lifecycle_after(&cx, &p, 2)?)),
            R::extend_receiver => items.push(Item::ExtendReceiver(receiver_after(&cx, &p, 2)?)),
            R::disable_rule => {
                let mut it = kids(&p).skip(2);
                let id = cx.word(&next(&cx, &p, &mut it)?);
                let note = match it.next() {
                    Some(clause) => Some(string(&cx, &next(&cx, &clause, &mut kids(&clause).skip(1))?)?),
                    None => None,
                };
                items.push(Item::DisableRule { id, note, span: cx.span(&p) });
            }
            R::EOI => {}
            _ => return Err(cx.bug(&p, "unexpected item")),
        }
    }
    Ok(File { items, comments })
}

/// A comment's text: after its one `#`, without trailing whitespace, which
/// is not part of what it says. The formatter prints this text back and
/// checks it against a re-parse, so trimming here, once, is what makes a
/// comment ending in spaces or tabs format (and format the same twice).
fn comment_text(raw: &str) -> String {
    raw.strip_prefix('#').unwrap_or(raw).trim_end().to_string()
}

fn reason(cx: &Ctx, p: &P) -> Res<ReasonDecl> {
    let mut it = kids(p).skip(1);
    let name = cx.word(&next(cx, p, &mut it)?);
    let mut fields = Vec::new();
    for f in it {
        let inner = next(cx, &f, &mut kids(&f))?;
        let mut parts = kids(&inner).skip(1);
        let first = next(cx, &inner, &mut parts)?;
        fields.push(match inner.as_rule() {
            R::reason_class => ReasonField::Class(cx.word(&first)),
            R::reason_scope => ReasonField::Scope(cx.word(&first)),
            R::reason_description => ReasonField::Description(string(cx, &first)?),
            R::reason_subjects => {
                let mut subjects = vec![cx.word(&first)];
                subjects.extend(parts.map(|w| cx.word(&w)));
                ReasonField::Subjects(subjects, cx.span(&inner))
            }
            R::reason_on => ReasonField::On {
                code: cx.word(&first),
                class: cx.word(&next(cx, &inner, &mut parts)?),
                span: cx.span(&inner),
            },
            _ => return Err(cx.bug(&inner, "unexpected reason field")),
        });
    }
    Ok(ReasonDecl { name, fields, span: cx.span(p) })
}

fn phrases(cx: &Ctx, p: &P) -> Res<PhrasesDecl> {
    let mut it = kids(p).skip(1).peekable();
    let name = cx.word(&next(cx, p, &mut it)?);
    let weak = it.next_if(|k| k.as_rule() == R::kw_weak).is_some();
    let mut entries = Vec::new();
    for e in it {
        let mut patterns = Vec::new();
        let mut provenance = Vec::new();
        let mut except = false;
        let mut parts: Vec<P> = kids(&e).collect();
        if let Some(first) = parts.first()
            && first.as_rule() == R::phrase_except
        {
            except = true;
            parts = kids(first).skip(1).collect();
        }
        for part in parts {
            match part.as_rule() {
                R::string if except => patterns.push(PhrasePattern::Literal(string(cx, &part)?)),
                R::phrase_pat => {
                    let pat = next(cx, &part, &mut kids(&part))?;
                    patterns.push(if pat.as_rule() == R::words_pat {
                        let mut pieces = Vec::new();
                        let mut within = None;
                        for k in kids(&pat).skip(1) {
                            match k.as_rule() {
                                R::string => pieces.push(string(cx, &k)?),
                                R::kw_within => {}
                                _ => within = Some(cx.word(&k)),
                            }
                        }
                        PhrasePattern::Words { pieces, within, span: cx.span(&pat) }
                    } else {
                        PhrasePattern::Literal(string(cx, &pat)?)
                    });
                }
                R::phrase_extra => provenance.push(extra_provenance(cx, &part)?),
                _ => return Err(cx.bug(&part, "unexpected phrase part")),
            }
        }
        entries.push(PhraseEntry { except, patterns, provenance, span: cx.span(&e) });
    }
    Ok(PhrasesDecl { name, weak, entries, span: cx.span(p) })
}

fn stoplist(cx: &Ctx, p: &P) -> Res<StoplistDecl> {
    let mut entries = Vec::new();
    for e in kids(p).skip(1) {
        let mut words = Vec::new();
        let mut provenance = Vec::new();
        for part in kids(&e) {
            match part.as_rule() {
                R::string => words.push(string(cx, &part)?),
                R::phrase_extra => provenance.push(extra_provenance(cx, &part)?),
                _ => return Err(cx.bug(&part, "unexpected stop-list part")),
            }
        }
        entries.push((words, provenance, cx.span(&e)));
    }
    Ok(StoplistDecl { entries, span: cx.span(p) })
}

/// A `source` or `note` clause of a phrase or stop-list entry.
fn extra_provenance(cx: &Ctx, p: &P) -> Res<Provenance> {
    let clause = next(cx, p, &mut kids(p))?;
    let value = next(cx, &clause, &mut kids(&clause).skip(1))?;
    Ok(match clause.as_rule() {
        R::source_clause => Provenance::Source(string(cx, &value)?),
        R::note_clause => Provenance::Note(string(cx, &value)?),
        _ => return Err(cx.bug(&clause, "unexpected clause")),
    })
}

fn table(cx: &Ctx, p: &P) -> Res<Table> {
    let mut entries = Vec::new();
    for e in kids(p).skip(1) {
        let mut it = kids(&e);
        let keys = kids(&next(cx, &e, &mut it)?).map(|k| cx.word(&k)).collect();
        let outcome = outcome(cx, &next(cx, &e, &mut it)?)?;
        entries.push(TableEntry { keys, outcome, span: cx.span(&e) });
    }
    Ok(Table { entries, span: cx.span(p) })
}

fn rule(cx: &Ctx, p: &P) -> Res<RuleDecl> {
    rule_after(cx, p, 1)
}

/// A rule whose id follows `keywords` keywords (`rule`, or `replace rule`).
fn rule_after(cx: &Ctx, p: &P, keywords: usize) -> Res<RuleDecl> {
    let mut it = kids(p).skip(keywords);
    let id = cx.word(&next(cx, p, &mut it)?);
    let mut it = it.peekable();
    let fallback = it.next_if(|k| k.as_rule() == R::kw_fallback).is_some();
    let when_p = next(cx, p, &mut it)?;
    let cond = next(cx, &when_p, &mut kids(&when_p).skip(1))?;
    let when = expr(cx, &cond)?;
    let then_p = next(cx, p, &mut it)?;
    let then_body = next(cx, &then_p, &mut kids(&then_p).skip(1))?;
    let then = if then_body.as_rule() == R::script_outcome {
        Then::Script(script_src(cx, &next(cx, &then_body, &mut kids(&then_body).skip(1))?)?)
    } else {
        Then::Fixed(outcome(cx, &then_body)?)
    };
    let mut provenance = Vec::new();
    let mut examples = Vec::new();
    for extra in it {
        let clause = next(cx, &extra, &mut kids(&extra))?;
        let value = next(cx, &clause, &mut kids(&clause).skip(1))?;
        if clause.as_rule() == R::example_short {
            examples.push(string(cx, &value)?);
            continue;
        }
        provenance.push(match clause.as_rule() {
            R::source_clause => Provenance::Source(string(cx, &value)?),
            R::observed_clause => Provenance::Observed(cx.word(&value)),
            R::note_clause => Provenance::Note(string(cx, &value)?),
            _ => return Err(cx.bug(&clause, "unexpected rule clause")),
        });
    }
    Ok(RuleDecl {
        id,
        fallback,
        when,
        then,
        provenance,
        examples,
        span: cx.span(p),
        when_span: cx.span(&when_p),
        then_span: cx.span(&then_p),
    })
}

fn outcome(cx: &Ctx, p: &P) -> Res<Outcome> {
    let mut class = None;
    let mut reason = None;
    let mut scope = None;
    for k in kids(p) {
        match k.as_rule() {
            R::class_name => class = Some(cx.word(&k)),
            R::reason_ref => reason = Some(cx.word(&k)),
            R::scope_ref => scope = Some(cx.word(&k)),
            R::kw_scope => {}
            _ => return Err(cx.bug(&k, "unexpected outcome part")),
        }
    }
    let reason = reason.ok_or_else(|| cx.bug(p, "outcome without reason"))?;
    Ok(Outcome { class, reason, scope, span: cx.span(p) })
}

fn receiver(cx: &Ctx, p: &P) -> Res<ReceiverDecl> {
    receiver_after(cx, p, 1)
}

/// A receiver whose name follows `keywords` keywords (`receiver`, or `extend receiver`).
fn receiver_after(cx: &Ctx, p: &P, keywords: usize) -> Res<ReceiverDecl> {
    let mut it = kids(p).skip(keywords);
    let name = cx.word(&next(cx, p, &mut it)?);
    let mut fields = Vec::new();
    for f in it {
        let inner = next(cx, &f, &mut kids(&f))?;
        fields.push(match inner.as_rule() {
            R::receiver_title => ReceiverField::Title(string(cx, &next(cx, &inner, &mut kids(&inner).skip(1))?)?),
            R::receiver_domains => ReceiverField::Domains(hosts(cx, &inner)?, cx.span(&inner)),
            R::receiver_mx => ReceiverField::Mx(hosts(cx, &inner)?, cx.span(&inner)),
            R::rule_decl => ReceiverField::Rule(rule(cx, &inner)?),
            R::example_decl => ReceiverField::Example(example(cx, &inner)?),
            _ => return Err(cx.bug(&inner, "unexpected receiver field")),
        });
    }
    Ok(ReceiverDecl { name, fields, span: cx.span(p) })
}

/// The hosts of a `domains`, `mx` or `domain` list (the pair holding the keyword and the list).
fn hosts(cx: &Ctx, p: &P) -> Res<Vec<Word>> {
    let list = next(cx, p, &mut kids(p).skip(1))?;
    Ok(kids(&list)
        .map(|h| {
            let w = cx.word(&h);
            let text = w.node.trim_matches('"').to_string();
            Spanned::new(text, w.span)
        })
        .collect())
}

fn expr(cx: &Ctx, p: &P) -> Res<Expr> {
    match p.as_rule() {
        R::condition => expr(cx, &next(cx, p, &mut kids(p))?),
        R::or_expr => flat(cx, p, R::kw_or, Expr::Or),
        R::and_expr => flat(cx, p, R::kw_and, Expr::And),
        R::unary => {
            let mut nots = 0;
            let mut inner = None;
            for k in kids(p) {
                if k.as_rule() == R::kw_not {
                    nots += 1;
                } else {
                    inner = Some(expr(cx, &k)?);
                }
            }
            // `not not x` is `x`: an even run of `not`s cancels out, so the
            // tree stays shallow however many are written. So does a `not`
            // before a parenthesised `not`: `not (not x)` is `x` too, which
            // is what the formatter writes it as.
            let e = inner.ok_or_else(|| cx.bug(p, "empty condition"))?;
            Ok(match (nots % 2 == 1, e) {
                (true, Expr::Not(x)) => *x,
                (true, e) => Expr::Not(Box::new(e)),
                (false, e) => e,
            })
        }
        _ => Ok(Expr::Test(Spanned::new(test(cx, p)?, cx.span(p)))),
    }
}

/// An `or`/`and` chain, flattened: a single operand is returned as is, and
/// operands that are chains of the same operator are spliced in.
fn flat(cx: &Ctx, p: &P, op: R, make: fn(Vec<Expr>) -> Expr) -> Res<Expr> {
    let mut parts = Vec::new();
    for k in kids(p).filter(|k| k.as_rule() != op) {
        match (expr(cx, &k)?, op) {
            (Expr::Or(v), R::kw_or) | (Expr::And(v), R::kw_and) => parts.extend(v),
            (e, _) => parts.push(e),
        }
    }
    if parts.len() == 1 {
        return parts.pop().ok_or_else(|| cx.bug(p, "empty chain"));
    }
    Ok(make(parts))
}

fn test(cx: &Ctx, p: &P) -> Res<Test> {
    let inner = kids(p).next().is_some_and(|k| k.as_rule() == R::inner);
    let words = |skip: usize| -> Vec<P> { kids(p).skip(skip).collect() };
    let list_words = |list: &P| kids(list).map(|k| cx.word(&k)).collect::<Vec<_>>();
    Ok(match p.as_rule() {
        R::code_test | R::status_test => {
            let list = words(usize::from(inner) + 1).into_iter().next().ok_or_else(|| cx.bug(p, "no codes"))?;
            let patterns = list_words(&list);
            if p.as_rule() == R::code_test { Test::Code { inner, patterns } } else { Test::Status { inner, patterns } }
        }
        R::text_test => {
            let t = next(cx, p, &mut kids(p).skip(1))?;
            let args: Vec<P> = kids(&t).skip(1).collect();
            match t.as_rule() {
                R::text_contains => Test::Contains(args.iter().map(|a| string(cx, a)).collect::<Res<_>>()?),
                R::text_like => Test::Like(args.iter().map(|a| string(cx, a)).collect::<Res<_>>()?),
                R::text_matches => {
                    let re = args.first().ok_or_else(|| cx.bug(&t, "no regex"))?;
                    let body = next(cx, re, &mut kids(re))?;
                    Test::Matches(cx.word(&body))
                }
                _ => return Err(cx.bug(&t, "unexpected text test")),
            }
        }
        R::phase_test => Test::Phase(words(1).iter().map(|w| cx.word(w)).collect()),
        R::mx_test => Test::Mx(hosts(cx, p)?),
        R::domain_test => Test::Domain(hosts(cx, p)?),
        R::flag_test => Test::Flag(cx.word(&next(cx, p, &mut kids(p).skip(1))?)),
        R::script_test => Test::Script(script_src(cx, &next(cx, p, &mut kids(p).skip(1))?)?),
        R::call_test => Test::Call(cx.word(&next(cx, p, &mut kids(p).skip(1))?)),
        R::phrase_test => Test::Phrase(cx.word(&next(cx, p, &mut kids(p).skip(1))?)),
        _ => return Err(cx.bug(p, "unexpected test")),
    })
}

/// A script literal: `"""…"""` as written, or `"…"` with escapes resolved.
fn script_src(cx: &Ctx, p: &P) -> Res<ScriptSrc> {
    let lit = next(cx, p, &mut kids(p))?;
    let span = cx.span(&lit);
    if lit.as_rule() == R::triple_string {
        let code = kids(&lit).next().map(|i| i.as_str().to_string()).unwrap_or_default();
        return Ok(ScriptSrc { code, triple: true, span, body_start: Skip(span.start + 3) });
    }
    let w = string(cx, &lit)?;
    Ok(ScriptSrc { code: w.node, triple: false, span, body_start: Skip(span.start + 1) })
}

/// A string's value with escapes resolved; the span is the whole literal,
/// quotes included.
fn string(cx: &Ctx, p: &P) -> Res<Word> {
    let raw = kids(p).next().map(|i| i.as_str().to_string()).unwrap_or_default();
    Ok(Spanned::new(unescape(&raw), cx.span(p)))
}

fn example(cx: &Ctx, p: &P) -> Res<ExampleDecl> {
    let mut it = kids(p).skip(1);
    let name = cx.word(&next(cx, p, &mut it)?);
    let mut fields = Vec::new();
    for f in it {
        let inner = next(cx, &f, &mut kids(&f))?;
        let mut parts = kids(&inner).skip(1);
        if inner.as_rule() == R::ex_expect {
            let mut class = None;
            let mut reason = None;
            let mut scope = None;
            let mut receiver = None;
            let mut rule = None;
            for k in kids(&inner).skip(1) {
                match k.as_rule() {
                    R::class_name => class = Some(cx.word(&k)),
                    R::reason_ref => reason = Some(cx.word(&k)),
                    R::scope_ref => scope = Some(cx.word(&k)),
                    R::receiver_ref => receiver = Some(cx.word(&k)),
                    R::rule_ref => rule = Some(cx.word(&k)),
                    _ => {}
                }
            }
            let (Some(class), Some(reason)) = (class, reason) else {
                return Err(cx.bug(&inner, "expect without class or reason"));
            };
            fields.push(ExampleField::Expect(Expectation {
                class,
                reason,
                scope,
                receiver,
                rule,
                span: cx.span(&inner),
            }));
            continue;
        }
        let value = next(cx, &inner, &mut parts)?;
        fields.push(match inner.as_rule() {
            R::ex_answer => ExampleField::Answer(string(cx, &value)?),
            R::ex_recipient => ExampleField::Recipient(string(cx, &value)?),
            R::ex_mx => {
                let w = cx.word(&value);
                ExampleField::Mx(Spanned::new(w.node.trim_matches('"').to_string(), w.span))
            }
            R::ex_phase => ExampleField::Phase(cx.word(&value)),
            R::ex_action => ExampleField::Action(cx.word(&value)),
            R::ex_code => ExampleField::Code(cx.word(&value)),
            R::ex_status => ExampleField::Status(cx.word(&value)),
            _ => return Err(cx.bug(&inner, "unexpected example field")),
        });
    }
    Ok(ExampleDecl { name, fields, span: cx.span(p) })
}

fn scenario(cx: &Ctx, p: &P) -> Res<ScenarioDecl> {
    let mut it = kids(p).skip(1);
    let name = cx.word(&next(cx, p, &mut it)?);
    let (mut recipient, mut events, mut expect) = (None, Vec::new(), Vec::new());
    for f in it {
        let inner = next(cx, &f, &mut kids(&f))?;
        match inner.as_rule() {
            R::ex_recipient => recipient = Some(string(cx, &next(cx, &inner, &mut kids(&inner).skip(1))?)?),
            R::scenario_event => {
                let mut ei = kids(&inner).skip(1);
                let kind = cx.word(&next(cx, &inner, &mut ei)?);
                let mut options = Vec::new();
                for opt in ei {
                    let o = next(cx, &opt, &mut kids(&opt))?;
                    let mut oi = kids(&o);
                    let key = next(cx, &o, &mut oi)?.as_str().to_string();
                    let v = next(cx, &o, &mut oi)?;
                    let value = if v.as_rule() == R::string {
                        string(cx, &v)?
                    } else {
                        let w = cx.word(&v);
                        Spanned::new(w.node.trim_matches('"').to_string(), w.span)
                    };
                    options.push((key, value));
                }
                events.push(ScenarioEvent { kind, options, span: cx.span(&inner) });
            }
            R::scenario_expect => {
                for se in kids(&inner).filter(|k| k.as_rule() == R::state_expect) {
                    let mut si = kids(&se);
                    let key = cx.word(&next(cx, &se, &mut si)?);
                    let value = cx.word(&next(cx, &se, &mut si)?);
                    expect.push((key, value));
                }
            }
            _ => return Err(cx.bug(&inner, "unexpected scenario field")),
        }
    }
    Ok(ScenarioDecl { name, recipient, events, expect, span: cx.span(p) })
}

fn lifecycle(cx: &Ctx, p: &P) -> Res<LifecycleDecl> {
    lifecycle_after(cx, p, 1)
}

/// A lifecycle whose items follow `keywords` keywords (`lifecycle`, or `replace lifecycle`).
fn lifecycle_after(cx: &Ctx, p: &P, keywords: usize) -> Res<LifecycleDecl> {
    let mut items = Vec::new();
    for item in kids(p).skip(keywords) {
        let inner = next(cx, &item, &mut kids(&item))?;
        let span = cx.span(&inner);
        items.push(match inner.as_rule() {
            R::states_decl => {
                let mut it = kids(&inner).skip(1);
                let dimension = cx.word(&next(cx, &inner, &mut it)?);
                LifecycleItem::States { dimension, states: it.map(|w| cx.word(&w)).collect(), span }
            }
            R::transition_decl => LifecycleItem::Transition(transition(cx, &inner)?),
            R::strikes_decl => LifecycleItem::Strikes(strikes(cx, &inner)?),
            R::reactivation_decl => {
                let mut rules = Vec::new();
                for r in kids(&inner).skip(1) {
                    let mut it = kids(&r);
                    let allow = next(cx, &r, &mut it)?.as_rule() == R::kw_allow;
                    let name = cx.word(&next(cx, &r, &mut it)?);
                    let mut tests = Vec::new();
                    for t in it.filter(|t| t.as_rule() == R::react_test) {
                        let test = next(cx, &t, &mut kids(&t))?;
                        let words: Vec<Word> = kids(&test).skip(1).map(|w| cx.word(&w)).collect();
                        let tspan = cx.span(&test);
                        tests.push(match test.as_rule() {
                            R::react_reason => ReactTest::Reason(words, tspan),
                            R::react_via => ReactTest::Via(words, tspan),
                            _ => ReactTest::After(
                                words.into_iter().next().ok_or_else(|| cx.bug(&test, "no duration"))?,
                                tspan,
                            ),
                        });
                    }
                    rules.push(ReactivationRule { allow, name, tests, span: cx.span(&r) });
                }
                LifecycleItem::Reactivation(rules, span)
            }
            R::eligible_decl => {
                let mut it = kids(&inner).skip(1);
                let kind = cx.word(&next(cx, &inner, &mut it)?);
                let tests =
                    it.filter(|t| t.as_rule() == R::eligible_test).map(|t| state_test(cx, &t)).collect::<Res<_>>()?;
                LifecycleItem::Eligible { kind, tests, span }
            }
            _ => return Err(cx.bug(&inner, "unexpected lifecycle item")),
        });
    }
    Ok(LifecycleDecl { items, span: cx.span(p) })
}

/// The states of a `state_set` pair: empty for `*`.
fn state_set(cx: &Ctx, p: &P) -> Vec<Word> {
    kids(p).filter(|k| k.as_rule() == R::name).map(|k| cx.word(&k)).collect()
}

fn state_test(cx: &Ctx, p: &P) -> Res<StateTest> {
    let mut it = kids(p);
    let dimension = cx.word(&next(cx, p, &mut it)?);
    let states = state_set(cx, &next(cx, p, &mut it)?);
    Ok(StateTest { dimension, states, span: cx.span(p) })
}

fn transition(cx: &Ctx, p: &P) -> Res<TransitionDecl> {
    let mut it = kids(p).skip(1);
    let name = cx.word(&next(cx, p, &mut it)?);
    let trig = next(cx, p, &mut it)?;
    let trigger = cx.word(&next(cx, &trig, &mut kids(&trig).skip(1))?);
    let (mut guards, mut changes, mut reset_strikes) = (Vec::new(), Vec::new(), false);
    for k in it {
        match k.as_rule() {
            R::guard => {
                for g in kids(&k).filter(|g| g.as_rule() == R::guard_test) {
                    let mut gi = kids(&g);
                    let first = next(cx, &g, &mut gi)?;
                    if first.as_rule() == R::guard_script {
                        let src = script_src(cx, &next(cx, &first, &mut kids(&first).skip(1))?)?;
                        let key = Spanned::new("script".to_string(), cx.span(&first));
                        guards.push(GuardTest { script: Some(src), key, values: Vec::new(), span: cx.span(&g) });
                        continue;
                    }
                    let key = cx.word(&first);
                    guards.push(GuardTest {
                        script: None,
                        key,
                        values: gi.map(|v| cx.word(&v)).collect(),
                        span: cx.span(&g),
                    });
                }
            }
            R::change => {
                let mut ci = kids(&k);
                let dimension = cx.word(&next(cx, &k, &mut ci)?);
                let from = state_set(cx, &next(cx, &k, &mut ci)?);
                let to = cx.word(&next(cx, &k, &mut ci)?);
                changes.push(Change { dimension, from, to, span: cx.span(&k) });
            }
            R::action => reset_strikes = true,
            _ => return Err(cx.bug(&k, "unexpected transition part")),
        }
    }
    Ok(TransitionDecl { name, trigger, guards, changes, reset_strikes, span: cx.span(p) })
}

fn strikes(cx: &Ctx, p: &P) -> Res<StrikesDecl> {
    let mut it = kids(p).skip(1);
    let name = cx.word(&next(cx, p, &mut it)?);
    let mut fields = Vec::new();
    for f in it {
        let inner = next(cx, &f, &mut kids(&f))?;
        let span = cx.span(&inner);
        let words = |skip: usize| -> Vec<Word> {
            kids(&inner)
                .skip(skip)
                .filter(|w| matches!(w.as_rule(), R::name | R::number | R::duration | R::class_name))
                .map(|w| cx.word(&w))
                .collect()
        };
        let first = |v: Vec<Word>| v.into_iter().next().ok_or_else(|| cx.bug(&inner, "missing value"));
        fields.push(match inner.as_rule() {
            R::strikes_count => StrikesField::Count(words(1), span),
            R::strikes_campaigns => StrikesField::Campaigns(first(words(1))?, span),
            R::strikes_over | R::strikes_within => {
                let v = words(0);
                let (n, d) = (v.first().cloned(), v.get(1).cloned());
                let (n, d) =
                    (n.ok_or_else(|| cx.bug(&inner, "no number"))?, d.ok_or_else(|| cx.bug(&inner, "no duration"))?);
                if inner.as_rule() == R::strikes_over {
                    StrikesField::Over(n, d, span)
                } else {
                    StrikesField::Within(n, d, span)
                }
            }
            R::strikes_weight => {
                let mut pairs = Vec::new();
                for item in kids(&inner).filter(|k| k.as_rule() == R::weight_item) {
                    let mut wi = kids(&item);
                    let reason = cx.word(&next(cx, &item, &mut wi)?);
                    let weight = cx.word(&next(cx, &item, &mut wi)?);
                    pairs.push((reason, weight));
                }
                StrikesField::Weight(pairs, span)
            }
            R::strikes_receiver => StrikesField::Receiver(first(words(1))?, span),
            R::strikes_reset => StrikesField::Reset(words(2), span),
            _ => return Err(cx.bug(&inner, "unexpected strikes field")),
        });
    }
    Ok(StrikesDecl { name, fields, span: cx.span(p) })
}

/// Resolves `\"`, `\\`, `\n`, `\t`; any other escaped character stands for itself.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
