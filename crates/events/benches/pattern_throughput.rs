//! Pattern-engine throughput on a citylots-like data set (the data set event-ruler and quamina
//! benchmark with): 213,068 GeoJSON `Feature` events of about 900 bytes, generated
//! deterministically. Each rule type runs five rules over every event, matching from the raw
//! JSON text (so parsing and flattening are included), single-threaded. Every figure is also
//! given as a ratio to a baseline measured in the same run: decoding the same events with
//! `serde_json::from_str::<serde_json::Value>`.
//!
//! Every figure is the median of several passes over the whole data set
//! (`PATTERN_BENCH_PASSES`, 5), with the slowest and fastest pass beside it: on a shared VM a
//! single pass can lose a third of its speed to a neighbour.
//!
//! Run: `cargo bench -p groundwork-events --bench pattern_throughput`
//! (`PATTERN_BENCH_EVENTS=20000` for a quicker, smaller run; `PATTERN_BENCH_ONLY=numeric` for one
//! rule type, `PATTERN_BENCH_ONLY=scaling` for the 10 → 10,000 rules comparison alone).

use std::hint::black_box;
use std::time::{Duration, Instant};

use groundwork_events::pattern::{EventPattern, RuleSet};

const EVENTS: usize = 213_068;

/// splitmix64: tiny, deterministic, good enough to vary the data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const STREETS: &[&str] = &[
    "UNKNOWN",
    "JACKSON",
    "FOLSOM",
    "MARKET",
    "HAIGHT",
    "VALENCIA",
    "MISSION",
    "FULTON",
    "HOWARD",
    "BRYANT",
    "HARRISON",
    "GEARY",
    "POST",
    "SUTTER",
    "BUSH",
    "PINE",
    "CALIFORNIA",
    "SACRAMENTO",
    "CLAY",
    "WASHINGTON",
    "PACIFIC",
    "BROADWAY",
    "VALLEJO",
    "GREEN",
    "UNION",
    "FILBERT",
    "GREENWICH",
    "LOMBARD",
    "CHESTNUT",
    "FRANCISCO",
    "BAY",
    "NORTH POINT",
    "BEACH",
    "JEFFERSON",
    "DIVISADERO",
    "FILLMORE",
    "STEINER",
    "PIERCE",
    "SCOTT",
    "LAGUNA",
];
const ST_TYPES: &[&str] = &[
    "\"ST\"", "\"AVE\"", "\"BLVD\"", "\"WAY\"", "\"TER\"", "\"PL\"", "null",
];

/// `n` rules each matching `"type": "Feature"` (every event) and one `BLOCK_NUM`.
fn shared_field_rules(n: usize) -> Vec<String> {
    (1..=n)
        .map(|block| {
            format!(r#"{{"type":["Feature"],"properties":{{"BLOCK_NUM":["{block:04}"]}}}}"#)
        })
        .collect()
}

fn event(rng: &mut Rng) -> String {
    let block = rng.below(9000) + 1;
    let lot = rng.below(300) + 1;
    let from = rng.below(4000);
    let mut s = String::with_capacity(1024);
    s.push_str(&format!(
        r#"{{"type":"Feature","properties":{{"MAPBLKLOT":"{block:04}{lot:03}","BLKLOT":"{block:04}{lot:03}","BLOCK_NUM":"{block:04}","LOT_NUM":"{lot:03}","FROM_ST":"{from}","TO_ST":"{}","STREET":"{}","ST_TYPE":{},"ODD_EVEN":"{}"}},"geometry":{{"type":"Polygon","coordinates":[["#,
        from + rng.below(50),
        rng.pick(STREETS),
        rng.pick(ST_TYPES),
        if rng.below(2) == 0 { "E" } else { "O" },
    ));
    let points = 13 + rng.below(5);
    let (lon, lat) = (-122.52 + rng.unit() * 0.16, 37.70 + rng.unit() * 0.11);
    for i in 0..points {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "[{:.15},{:.15},0.0]",
            lon + rng.unit() * 0.001,
            lat + rng.unit() * 0.001
        ));
    }
    s.push_str("]]}}");
    s
}

fn rules(patterns: &[String]) -> RuleSet {
    let mut set = RuleSet::new();
    for (i, p) in patterns.iter().enumerate() {
        let pattern = match EventPattern::parse(p) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("bad benchmark pattern {p}: {e}");
                std::process::exit(1);
            }
        };
        set.add_rule(format!("rule-{i}"), &pattern);
    }
    set
}

fn street_rules(template: &str, values: &[&str]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            format!(
                r#"{{"properties":{{"STREET":[{}]}}}}"#,
                template.replace("{}", v)
            )
        })
        .collect()
}

/// Events per second of `passes` runs of `pass` (which returns its elapsed time), sorted.
fn rates(passes: usize, n: usize, mut pass: impl FnMut() -> Duration) -> Vec<f64> {
    let mut v: Vec<f64> = (0..passes.max(1))
        .map(|_| n as f64 / pass().as_secs_f64())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

/// Runs the rule set over every event; returns (seconds, total matches).
fn run(set: &RuleSet, events: &[String]) -> (Duration, usize) {
    let start = Instant::now();
    let mut matched = 0;
    for e in events {
        match set.matches_json(e) {
            Ok(names) => matched += names.len(),
            Err(err) => {
                eprintln!("event rejected: {err}");
                std::process::exit(1);
            }
        }
    }
    (start.elapsed(), black_box(matched))
}

fn main() {
    let n = std::env::var("PATTERN_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EVENTS);
    let passes = std::env::var("PATTERN_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize);
    let mut rng = Rng(0x5EED_C17E_1075);
    let events: Vec<String> = (0..n).map(|_| event(&mut rng)).collect();
    let bytes: usize = events.iter().map(String::len).sum();
    println!(
        "pattern_throughput: {n} citylots-like events, {} bytes on average, one thread; median of {passes} passes",
        bytes / n.max(1)
    );

    // Baseline: decode each event into a serde_json::Value.
    let base_rates = rates(passes, n, || {
        let start = Instant::now();
        let mut keys = 0;
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(e).unwrap_or_default();
            keys += v.as_object().map_or(0, |o| o.len());
        }
        black_box(keys);
        start.elapsed()
    });
    let base = median(&base_rates);
    println!(
        "{:<34} {:>12.0} events/s (passes {:.0}–{:.0})",
        "baseline serde_json::Value decode",
        base,
        base_rates[0],
        base_rates[base_rates.len() - 1]
    );
    println!();
    println!(
        "{:<34} {:>12} {:>10} {:>10} {:>9} {:>19}",
        "rule type (5 rules)", "events/s", "vs base", "target", "matches", "slowest–fastest"
    );

    let s5 = ["JACKSON", "FOLSOM", "MARKET", "HAIGHT", "VALENCIA"];
    let cases: Vec<(&str, Vec<String>, f64)> = vec![
        ("exact", street_rules(r#""{}""#, &s5), 400_000.0),
        ("prefix", street_rules(r#"{"prefix":"{}"}"#, &["JA", "FO", "MAR", "HA", "VAL"]), 400_000.0),
        ("suffix", street_rules(r#"{"suffix":"{}"}"#, &["ON", "OM", "KET", "GHT", "CIA"]), 400_000.0),
        (
            "equals-ignore-case",
            street_rules(r#"{"equals-ignore-case":"{}"}"#, &["jackson", "Folsom", "market", "HaIgHt", "valencia"]),
            400_000.0,
        ),
        (
            "prefix/suffix equals-ignore-case",
            vec![
                r#"{"properties":{"STREET":[{"prefix":{"equals-ignore-case":"ja"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"prefix":{"equals-ignore-case":"Fo"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"suffix":{"equals-ignore-case":"ket"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"suffix":{"equals-ignore-case":"gHT"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"prefix":{"equals-ignore-case":"val"}}]}}"#.to_owned(),
            ],
            400_000.0,
        ),
        ("wildcard", street_rules(r#"{"wildcard":"{}"}"#, &["J*K*N", "*OL*", "M*ET", "*A*H*", "V*A"]), 200_000.0),
        (
            "numeric",
            vec![
                r#"{"geometry":{"coordinates":[{"numeric":[">",-122.42,"<=",-122.419]}]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":[">=",37.75,"<",37.7505]}]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":["=",0]}]},"properties":{"STREET":["FOLSOM"]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":["<",-122.515]}]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":[">",37.8095]}]}}"#.to_owned(),
            ],
            200_000.0,
        ),
        ("anything-but", street_rules(r#"{"anything-but":"{}"}"#, &s5), 200_000.0),
        (
            "anything-but variants",
            vec![
                r#"{"properties":{"STREET":[{"anything-but":["JACKSON","FOLSOM"]}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"anything-but":{"prefix":"MA"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"anything-but":{"suffix":"GHT"}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"anything-but":{"equals-ignore-case":["valencia","mission"]}}]}}"#.to_owned(),
                r#"{"properties":{"STREET":[{"anything-but":{"wildcard":"*O*"}}]}}"#.to_owned(),
            ],
            200_000.0,
        ),
        (
            "array consistency",
            vec![
                r#"{"geometry":{"type":["Polygon"],"coordinates":[{"numeric":[">",-122.45,"<",-122.449]},0]},"properties":{"ODD_EVEN":["E"]}}"#.to_owned(),
                r#"{"geometry":{"type":["Polygon"],"coordinates":[{"numeric":[">",37.75,"<",37.751]}]},"properties":{"STREET":[{"prefix":"F"}]}}"#.to_owned(),
                r#"{"geometry":{"type":["Polygon"],"coordinates":[0]},"properties":{"ST_TYPE":[null]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":["<",-122.51]}],"type":[{"prefix":"Poly"}]}}"#.to_owned(),
                r#"{"geometry":{"coordinates":[{"numeric":[">",37.80]},{"numeric":["<",-122.50]}],"type":["Polygon"]},"properties":{"ODD_EVEN":["O"]}}"#.to_owned(),
            ],
            50_000.0,
        ),
        // As the bus's rules usually are: many rules that share one field (every event is
        // a `Feature`, as every event of a producer has its `source`), each selecting a few
        // events by another field.
        ("shared field, 100 rules", shared_field_rules(100), 400_000.0),
    ];

    // `PATTERN_BENCH_ONLY=<label>` runs one rule type (for profiling): the one with exactly
    // that label if there is one (`prefix`, `anything-but`), else those starting with it.
    let only = std::env::var("PATTERN_BENCH_ONLY").ok();
    let exact_label = only
        .as_deref()
        .is_some_and(|o| cases.iter().any(|(label, _, _)| *label == o));
    for (label, patterns, target) in &cases {
        let skip = only.as_deref().is_some_and(|o| {
            if exact_label {
                *label != o
            } else {
                !label.starts_with(o)
            }
        });
        if skip {
            continue;
        }
        let set = rules(patterns);
        let mut matched = 0;
        let r = rates(passes, n, || {
            let (elapsed, m) = run(&set, &events);
            matched = m;
            elapsed
        });
        let eps = median(&r);
        println!(
            "{label:<34} {eps:>12.0} {:>9.2}x {:>10.0} {matched:>9} {:>9.0}–{:<9.0} {}",
            eps / base,
            target,
            r[0],
            r[r.len() - 1],
            if eps >= *target { "ok" } else { "BELOW TARGET" }
        );
    }

    // Scaling: time per event with 10 and with 10,000 exact rules on one field
    // (skipped when `PATTERN_BENCH_ONLY` names another rule type; `=scaling` runs it alone).
    if only.as_deref().is_some_and(|o| !"scaling".starts_with(o)) {
        return;
    }
    println!();
    let exact = |count: usize| -> RuleSet {
        let mut r = Rng(count as u64);
        let patterns: Vec<String> = (0..count)
            .map(|_| {
                format!(
                    r#"{{"properties":{{"MAPBLKLOT":["{:04}{:03}"]}}}}"#,
                    r.below(9000) + 1,
                    r.below(300) + 1
                )
            })
            .collect();
        rules(&patterns)
    };
    let small = exact(10);
    let large = exact(10_000);
    let (t_small, m_small) = run(&small, &events);
    let (t_large, m_large) = run(&large, &events);
    let ns = |t: Duration| t.as_nanos() as f64 / n as f64;
    println!(
        "exact rules: 10 -> {:.0} ns/event ({m_small} matches); 10,000 -> {:.0} ns/event ({m_large} matches); ratio {:.2}x (target < 2x)",
        ns(t_small),
        ns(t_large),
        ns(t_large) / ns(t_small)
    );
}
