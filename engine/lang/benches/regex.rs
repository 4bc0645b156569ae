//! The issue-13 regex: `^(a+)+$` on `a…ab` with the backtracking engine
//! the runtime used before (regress) and the runtime's search now
//! (runtime/pattern, linear for this pattern), plus a pattern that needs
//! the backtracker, stopped by its step budget.
//! `cargo bench -p krl-lang --bench regex`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use krl_lang::runtime::pattern::{Budget, Compiled};

fn hostile(n: usize) -> String {
    format!("{}b", "a".repeat(n))
}

fn catastrophic(c: &mut Criterion) {
    let mut g = c.benchmark_group("^(a+)+$");
    g.sample_size(10);
    let old = regress::Regex::new("^(a+)+$").unwrap();
    // 2^n paths: n = 16, 20, 22 already show the growth; 37 (the issue's
    // input) would take hours.
    for n in [16, 20, 22] {
        let text = hostile(n);
        g.bench_function(format!("regress/{n}"), |b| {
            b.iter(|| black_box(old.find(black_box(&text)).is_some()))
        });
    }
    let new = Compiled::new("^(a+)+$", false, false).unwrap();
    for n in [16, 22, 37, 100_000] {
        let text = hostile(n);
        g.bench_function(format!("pattern/{n}"), |b| {
            b.iter(|| black_box(new.is_match(black_box(&text), &mut Budget::new(0)).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("^(a+)+\\1$ stopped at 10M steps");
    g.sample_size(10);
    let backref = Compiled::new("^(a+)+\\1$", false, false).unwrap();
    let text = hostile(37);
    g.bench_function("pattern/37", |b| {
        b.iter(|| {
            black_box(
                backref
                    .is_match(&text, &mut Budget::new(10_000_000))
                    .is_err(),
            )
        })
    });
    g.finish();
}

/// Everyday searches: the previous engine against the one now.
fn everyday(c: &mut Criterion) {
    let mut g = c.benchmark_group("everyday");
    let text = "The quick brown fox jumps over the lazy dog, then foo bar baz 2024-05-17.";
    for (name, src, input) in [
        ("digit capture", "^(\\d)$", "3"),
        ("word boundary", "\\bfoo\\b", text),
        ("date captures", "(\\d{4})-(\\d\\d)-(\\d\\d)", text),
    ] {
        let old = regress::Regex::new(src).unwrap();
        let new = Compiled::new(src, false, false).unwrap();
        g.bench_function(format!("regress/{name}"), |b| {
            b.iter(|| black_box(old.find(black_box(input)).map(|m| m.range.end)))
        });
        g.bench_function(format!("pattern/{name}"), |b| {
            b.iter(|| {
                black_box(
                    new.find(black_box(input), &mut Budget::new(0))
                        .unwrap()
                        .map(|m| m.range.end),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, catastrophic, everyday);
criterion_main!(benches);
