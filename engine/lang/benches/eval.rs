//! The in-process evaluator: events per second through `PicoRuntime` with
//! an in-memory host (no HTTP, no storage). `cargo bench -p krl-lang --bench eval`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use krl_lang::engine::memory::MemoryHost;
use krl_lang::engine::{compile, Event, PicoRuntime};
use krl_lang::runtime::{Map, Value};
use std::sync::Arc;

const COUNTER: &str = r#"
ruleset bench.counter {
  meta { shares total }
  global { total = function() { ent:count.defaultsTo(0) } }
  rule inc {
    select when counter inc
    send_directive("count", {"n": total() + 1})
    always { ent:count := total() + 1 }
  }
}
"#;

const ROUTER: &str = r#"
ruleset bench.router {
  global {
    menu = {"1": "sales", "2": "support", "3": "billing"}
    greet = function(name, hour) {
      part = hour < 12 => "morning" | hour < 18 => "afternoon" | "evening";
      <<Good #{part}, #{name.defaultsTo("caller").capitalize()}!>>
    }
  }
  rule route {
    select when call digits Digits re#^(\d)$# setting(d)
    pre {
      dept = menu{d} || "operator";
      text = greet(event:attrs{"name"}, event:attrs{"hour"}.as("Number"))
    }
    every {
      send_directive("say", {"text": text});
      send_directive("dial", {"dept": dept, "queue": [d, dept].join("-")});
    }
    fired { ent:calls{dept} := ent:calls{dept}.defaultsTo(0) + 1 }
  }
}
"#;

fn event(domain: &str, name: &str, attrs: Map) -> Event {
    Event {
        domain: domain.into(),
        name: name.into(),
        attrs,
        eci: "eci".into(),
        eid: "eid".into(),
        time_ms: 0.0,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    for (label, src, domain, name, attrs) in [
        ("counter", COUNTER, "counter", "inc", Map::default()),
        (
            "router",
            ROUTER,
            "call",
            "digits",
            [("Digits", "2"), ("name", "ada"), ("hour", "15")]
                .into_iter()
                .map(|(k, v)| (Arc::from(k), Value::from(v)))
                .collect(),
        ),
    ] {
        let rs = compile(src).unwrap_or_else(|_| panic!("{label} compiles"));
        let mut pico = PicoRuntime::new("p");
        let mut host = MemoryHost::new(0.0);
        pico.install(rs, Value::Null, &|_| None, &mut host).unwrap();
        g.bench_function(label, |b| {
            b.iter(|| {
                let out = pico
                    .event(event(domain, name, attrs.clone()), "t", &mut host)
                    .unwrap();
                black_box(out.directives.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
