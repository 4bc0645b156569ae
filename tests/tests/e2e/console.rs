//! The console's login and guard, through the binary: `/login` sets the
//! `krl_admin` cookie for the right token only, the admin API takes the
//! cookie as it takes the bearer token, `/` and an unauthenticated `/ui/`
//! redirect, and every console route answers 401 without the token.

use krl_tests::api::{server, Api, TOKEN};
use reqwest::blocking::Client;
use reqwest::redirect::Policy;

/// A client that does not follow redirects, so they can be looked at.
fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("an HTTP client")
}

fn location(res: &reqwest::blocking::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn login_sets_the_cookie_and_the_cookie_opens_the_admin_api() {
    let (_dir, s) = server("console-login", &[]);
    let c = http();
    // The form.
    let res = c.get(format!("{}/login", s.url)).send().unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    // A wrong token: 401, the form again with a message, no cookie.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=nope&next=%2Fui%2F")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    let page = res.text().unwrap();
    assert!(page.contains("Wrong admin token"), "{page}");
    assert!(page.contains("name=\"token\""), "{page}");
    // The right one: the cookie, and a redirect to `next`.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2Fui%2F%23rulesets"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.headers());
    assert_eq!(location(&res), "/ui/#rulesets");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    assert_eq!(
        cookie,
        format!("krl_admin={TOKEN}; HttpOnly; SameSite=Strict; Path=/")
    );
    // `next` elsewhere is not followed.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2F%2Fevil.example%2F"))
        .send()
        .unwrap();
    assert_eq!(location(&res), "/ui/");
    // The cookie opens /api and /ui/.
    let jar = format!("krl_admin={TOKEN}");
    let res = c
        .get(format!("{}/api/engine", s.url))
        .header("cookie", &jar)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .get(format!("{}/ui/", s.url))
        .header("cookie", &jar)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    // A wrong cookie does not.
    let res = c
        .get(format!("{}/api/engine", s.url))
        .header("cookie", "krl_admin=nope")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    // The bearer token still works.
    assert_eq!(Api::new(&s).get("/api/engine").0, 200);
}

#[test]
fn root_and_unauthenticated_pages_redirect() {
    let (_dir, s) = server("console-redirects", &[]);
    let c = http();
    let res = c.get(format!("{}/", s.url)).send().unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/ui/");
    let res = c.get(format!("{}/ui/", s.url)).send().unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/login?next=/ui/");
    let res = c
        .get(format!("{}/ui/console.js", s.url))
        .header("cookie", "krl_admin=wrong")
        .send()
        .unwrap();
    assert_eq!(location(&res), "/login?next=/ui/console.js");
    let res = c.get(format!("{}/logout", s.url)).send().unwrap();
    assert!(res
        .headers()
        .get("set-cookie")
        .is_some_and(|v| v.to_str().unwrap().contains("Max-Age=0")));
}
