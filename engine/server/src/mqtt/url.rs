//! The broker URL of `--mqtt-url`: `mqtt://[user[:password]@]host[:port]`
//! or `mqtts://...`. Names nothing of this crate.

/// Where the engine's client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    /// `mqtts://`: TLS (rustls; the Mozilla roots, or `--mqtt-ca`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (1883, or 8883 for `mqtts://`, when not given).
    pub port: u16,
    /// `user:password@`, percent-decoded.
    pub login: Option<(String, String)>,
}

impl BrokerUrl {
    /// `mqtt://[user[:password]@]host[:port][/]` or `mqtts://...`.
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(format!(
                "--mqtt-url {url:?}: expected mqtt://[user:password@]host[:port] or mqtts://..."
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (login, hostport) = match rest.rsplit_once('@') {
            None => (None, rest),
            Some((auth, hp)) => {
                let (u, p) = auth.split_once(':').unwrap_or((auth, ""));
                (Some((percent_decode(u)?, percent_decode(p)?)), hp)
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("--mqtt-url {url:?}: unclosed ["))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(format!("--mqtt-url {url:?}: expected :port after ]")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!(
                "--mqtt-url {url:?}: expected mqtt://[user:password@]host[:port]"
            ));
        }
        let port = match port {
            None if tls => 8883,
            None => 1883,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("--mqtt-url {url:?}: bad port {p:?}"))?,
        };
        Ok(BrokerUrl {
            tls,
            host: host.to_string(),
            port,
            login,
        })
    }

    /// The URL without credentials (start-up line, logs).
    pub fn display(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("--mqtt-url: bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("--mqtt-url: {s:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let u = BrokerUrl::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 1884));
        assert_eq!(u.login, None);
        let u = BrokerUrl::parse("mqtts://me:p%40ss@broker.example.org/").unwrap();
        assert_eq!((u.tls, u.port), (true, 8883));
        assert_eq!(u.login, Some(("me".into(), "p@ss".into())));
        assert_eq!(u.display(), "mqtts://broker.example.org:8883");
        let u = BrokerUrl::parse("mqtt://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1883));
        assert_eq!(u.display(), "mqtt://[::1]:1883");
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://[::1",
            "mqtt://h/path",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
