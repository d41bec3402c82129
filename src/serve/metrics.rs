//! Prometheus metrics of the service, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::reload::ReloadCounts;

/// `rebound_reloads_total`: every attempt, so that a failure ratio is
/// `failures / reloads` and a service that rebuilds with no edit shows.
const RELOADS_HELP: &str = "Policy rebuilds attempted (file changes, SIGHUP, the reload API), whatever came of them.";
const FAILURES_HELP: &str =
    "Policy rebuilds refused because the new policy has errors; the last good one kept serving.";
const SWAPS_HELP: &str = "Policy rebuilds that swapped in a different version (the others built the version serving).";

/// Upper bounds of the request latency histogram, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Counters and histograms, updated by the handlers.
#[derive(Default)]
pub struct Metrics {
    verdicts: Mutex<BTreeMap<(String, String, String), u64>>,
    transitions: Mutex<BTreeMap<String, u64>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Counts verdicts: (class, reason, receiver) → how many.
    pub fn verdicts(&self, counts: BTreeMap<(String, String, String), u64>) {
        if let Ok(mut m) = self.verdicts.lock() {
            for (k, v) in counts {
                *m.entry(k).or_default() += v;
            }
        }
    }

    /// Counts transitions by name.
    pub fn transitions(&self, counts: BTreeMap<String, u64>) {
        if let Ok(mut m) = self.transitions.lock() {
            for (k, v) in counts {
                *m.entry(k).or_default() += v;
            }
        }
    }

    /// Records one request: its route, status and duration.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m
                .entry(route.to_string())
                .or_insert_with(|| Histogram { counts: vec![0; LATENCY_BUCKETS.len()], ..Histogram::default() });
            for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *b
                    && let Some(c) = h.counts.get_mut(i)
                {
                    *c += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The exposition text; `reloads` and `script_errors` come from the
    /// live policy.
    pub fn render(&self, version: &str, reloads: ReloadCounts, script_errors: u64) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP rebound_verdicts_total Verdicts given, by class, reason and receiver.");
        let _ = writeln!(s, "# TYPE rebound_verdicts_total counter");
        if let Ok(m) = self.verdicts.lock() {
            for ((class, reason, receiver), v) in m.iter() {
                let _ = writeln!(
                    s,
                    "rebound_verdicts_total{{class=\"{}\",reason=\"{}\",receiver=\"{}\"}} {v}",
                    label(class),
                    label(reason),
                    label(receiver)
                );
            }
        }
        let _ = writeln!(s, "# HELP rebound_transitions_total Lifecycle transitions, by name.");
        let _ = writeln!(s, "# TYPE rebound_transitions_total counter");
        if let Ok(m) = self.transitions.lock() {
            for (t, v) in m.iter() {
                let _ = writeln!(s, "rebound_transitions_total{{transition=\"{}\"}} {v}", label(t));
            }
        }
        for (name, help, value) in [
            ("rebound_reloads_total", RELOADS_HELP, reloads.reloads),
            ("rebound_reload_failures_total", FAILURES_HELP, reloads.failures),
            ("rebound_reload_swaps_total", SWAPS_HELP, reloads.swaps),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} counter");
            let _ = writeln!(s, "{name} {value}");
        }
        let _ = writeln!(
            s,
            "# HELP rebound_script_errors_total Script runs that failed (a limit crossed, an error, an invalid outcome); the rule did not match."
        );
        let _ = writeln!(s, "# TYPE rebound_script_errors_total counter");
        let _ = writeln!(s, "rebound_script_errors_total {script_errors}");
        let _ = writeln!(s, "# HELP rebound_policy_info The policy version serving.");
        let _ = writeln!(s, "# TYPE rebound_policy_info gauge");
        let _ = writeln!(s, "rebound_policy_info{{version=\"{}\"}} 1", label(version));
        let _ = writeln!(s, "# HELP rebound_http_requests_total HTTP requests, by route and status.");
        let _ = writeln!(s, "# TYPE rebound_http_requests_total counter");
        if let Ok(m) = self.requests.lock() {
            for ((route, status), v) in m.iter() {
                let _ =
                    writeln!(s, "rebound_http_requests_total{{route=\"{}\",status=\"{status}\"}} {v}", label(route));
            }
        }
        let _ = writeln!(s, "# HELP rebound_http_request_duration_seconds Request latency, by route.");
        let _ = writeln!(s, "# TYPE rebound_http_request_duration_seconds histogram");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                let r = label(route);
                for (b, c) in LATENCY_BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(s, "rebound_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}");
                }
                let _ = writeln!(
                    s,
                    "rebound_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(s, "rebound_http_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
                let _ = writeln!(s, "rebound_http_request_duration_seconds_count{{route=\"{r}\"}} {}", h.count);
            }
        }
        s
    }
}
