//! `use module` through the server (docs/spec/krl-language.md 8.1): a module must be
//! registered before the ruleset that uses it, dependency cycles are
//! refused at registration, and at run time the module must be installed
//! on the same pico.

use krl_tests::api::{server, server_at, str_of, Api};
use krl_tests::ScratchDir;
use serde_json::json;

const GREETER: &str = r#"ruleset io.example.greeter {
  meta {
    configure using
      greeting = "Hello"
      punct = "."
    provides greet
    shares greet
  }
  global {
    greet = function(name) { greeting + ", " + name + punct }
  }
}
"#;

const USER: &str = r#"ruleset io.example.user {
  meta {
    use module io.example.greeter alias formal with greeting = "Good day"
    shares hi
  }
  global {
    hi = function(name) { formal:greet(name) }
  }
}
"#;

fn ruleset(rid: &str, uses: &[&str]) -> String {
    let meta: String = uses
        .iter()
        .enumerate()
        .map(|(i, u)| format!("    use module {u} alias m{i}\n"))
        .collect();
    format!("ruleset {rid} {{\n  meta {{\n{meta}  }}\n}}\n")
}

#[test]
fn a_module_must_be_registered_first() {
    let (_dir, s) = server("modules-missing", &[]);
    let api = Api::new(&s);
    let (status, body) = api.register(USER);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!("Dependant module not loaded: io.example.greeter")
    );
    assert_eq!(api.get("/api/rulesets/io.example.user").0, 404);
    api.register_ok(GREETER);
    api.register_ok(USER);
}

#[test]
fn dependency_cycles_are_refused() {
    let (_dir, s) = server("modules-cycle", &[]);
    let api = Api::new(&s);
    api.register_ok(&ruleset("io.example.a", &[]));
    api.register_ok(&ruleset("io.example.b", &["io.example.a"]));
    let (_, before) = api.get("/api/rulesets/io.example.a");
    let (status, body) = api.register(&ruleset("io.example.a", &["io.example.b"]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!("Dependency Cycle Found: io.example.a -> io.example.b -> io.example.a")
    );
    let (status, body) = api.register(&ruleset("io.example.c", &["io.example.c"]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!("Dependency Cycle Found: io.example.c -> io.example.c")
    );
    // Nothing changed, and the engine still answers.
    assert_eq!(api.get("/api/rulesets/io.example.a"), (200, before));
    assert_eq!(api.get("/api/rulesets/io.example.c").0, 404);
}

#[test]
fn a_ruleset_uses_a_module_installed_on_the_same_pico() {
    let dir = ScratchDir::new("modules-use");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    api.register_ok(GREETER);
    api.register_ok(USER);
    let (pico, eci) = api.new_pico();

    // The module first, on this pico.
    let (status, body) = api.install(&pico, "io.example.user");
    assert_eq!(status, 409, "{body}");
    let message = str_of(&body["error"]);
    assert!(
        message.contains("io.example.greeter") && message.contains("not installed"),
        "{message}"
    );
    api.install_ok(&pico, "io.example.greeter");
    api.install_ok(&pico, "io.example.user");

    let hi = || api.query(&eci, "io.example.user", "hi", json!({"name": "Ann"}));
    assert_eq!(hi(), (200, json!("Good day, Ann.")));
    // Installed directly, the module has its defaults.
    assert_eq!(
        api.query(&eci, "io.example.greeter", "greet", json!({"name": "Ann"})),
        (200, json!("Hello, Ann."))
    );

    // A new version of the module reaches the ruleset that uses it.
    api.register_ok(&GREETER.replace(r#"punct = ".""#, r#"punct = "!""#));
    assert_eq!(hi(), (200, json!("Good day, Ann!")));

    // And after a restart (modules load before the rulesets using them).
    s.kill();
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    let hi = || api.query(&eci, "io.example.user", "hi", json!({"name": "Ann"}));
    assert_eq!(hi(), (200, json!("Good day, Ann!")));

    // The module cannot go while it is used.
    let (status, body) = api.delete(&format!("/api/picos/{pico}/rulesets/io.example.greeter"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        json!("Cannot uninstall io.example.greeter because io.example.user depends on it")
    );
    assert_eq!(
        api.delete(&format!("/api/picos/{pico}/rulesets/io.example.user"))
            .0,
        204
    );
    assert_eq!(
        api.delete(&format!("/api/picos/{pico}/rulesets/io.example.greeter"))
            .0,
        204
    );
}

/// `meta:host` (a native member added in one place, modules/meta.rs): the
/// engine's public base URL, `--public-url` or else the bound address.
#[test]
fn meta_host_is_the_public_base_url() {
    const HOST: &str = r#"ruleset io.example.host {
  meta { shares host }
  global { host = function() { meta:host } }
}
"#;
    let (_dir, s) = server(
        "meta_host",
        &["--public-url", "https://krl.example.com/base/"],
    );
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(HOST);
    let (status, v) = api.query(&eci, "io.example.host", "host", json!({}));
    assert_eq!((status, v), (200, json!("https://krl.example.com/base")));

    let (_dir, s) = server("meta_host_default", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(HOST);
    let (status, v) = api.query(&eci, "io.example.host", "host", json!({}));
    assert_eq!(status, 200);
    // Its own URL (in a cluster, the node's that runs the pico).
    assert!(
        s.urls.contains(&str_of(&v)) || str_of(&v) == s.url.trim_end_matches('/'),
        "{v}"
    );
}
