//! TLS for `mqtts://` brokers: rustls (ring). The broker's certificate is
//! checked against the Mozilla roots built in (webpki-roots) or, with
//! `--mqtt-ca FILE`, against the CA certificates of that file **only** (a
//! private broker is then trusted through its own CA and nothing else).
//! The configuration is made once, at start-up, so a bad file is a
//! start-up error. Also turns connection failures into log text that
//! names the way out (a certificate from an unknown CA, a refused login).

use super::url::BrokerUrl;
use rumqttc::{ConnectReturnCode, ConnectionError, TlsError};
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS side of an `mqtts://` connection.
#[derive(Clone)]
pub struct Tls {
    /// rustls' client configuration (roots, protocol versions).
    pub config: Arc<ClientConfig>,
    /// `--mqtt-ca`, when given (named in log hints).
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("ca", &self.ca).finish()
    }
}

impl Tls {
    /// The TLS side for `broker` (`None` for plain `mqtt://`): the roots
    /// of `ca` (`--mqtt-ca`) or the built-in ones. `ca` with a broker that
    /// is not `mqtts://` is an error, as is a file without a usable
    /// certificate.
    pub fn for_broker(broker: &BrokerUrl, ca: Option<&Path>) -> Result<Option<Tls>, String> {
        if !broker.tls {
            return match ca {
                Some(ca) => Err(ca_without_tls(
                    ca,
                    &format!("{} is not TLS", broker.display()),
                )),
                None => Ok(None),
            };
        }
        let roots = match ca {
            Some(ca) => load_roots(ca)?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS for {}: {e}", broker.display()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Tls {
            config: Arc::new(config),
            ca: ca.map(Path::to_path_buf),
        }))
    }
}

/// The error for `--mqtt-ca` given where no TLS connection is made
/// (`why`: "MQTT is off (--no-mqtt)", ...).
pub fn ca_without_tls(ca: &Path, why: &str) -> String {
    format!(
        "--mqtt-ca {}: a CA certificate is only used with a TLS broker (--mqtt-url \
         mqtts://HOST:PORT), and {why}; drop --mqtt-ca (or KRL_MQTT_CA) or use mqtts://",
        ca.display()
    )
}

/// Every certificate of the PEM file `path` as a trust anchor.
fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let name = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("--mqtt-ca {name}: cannot read the file: {e}"))?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let n = i + 1;
        let cert = cert.map_err(|e| match e {
            pem::Error::Base64Decode(_) | pem::Error::IllegalSectionStart { .. } => {
                format!("--mqtt-ca {name}: certificate {n} is not valid PEM ({e})")
            }
            e => format!("--mqtt-ca {name}: cannot read certificate {n}: {e}"),
        })?;
        roots.add(cert).map_err(|e| {
            format!("--mqtt-ca {name}: certificate {n} is not a usable X.509 certificate ({e})")
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "--mqtt-ca {name}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE----- \
             ... -----END CERTIFICATE-----, one or more)"
        ));
    }
    Ok(roots)
}

/// A failed or broken connection as log text: rumqttc's error, then what
/// to do about it when it is a refused login or a certificate problem.
pub fn describe(e: &ConnectionError, broker: &BrokerUrl, ca: Option<&Path>) -> String {
    match hint(e, broker, ca) {
        Some(h) => format!("{e}: {h}"),
        None => e.to_string(),
    }
}

fn hint(e: &ConnectionError, broker: &BrokerUrl, ca: Option<&Path>) -> Option<String> {
    if let ConnectionError::ConnectionRefused(code) = e {
        let login = match &broker.login {
            Some((user, _)) => format!("as user {user:?}"),
            None => "without a user name (give user:password@ in --mqtt-url)".to_string(),
        };
        return match code {
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => Some(
                format!("the broker refused the login {login}: check the user and password in --mqtt-url"),
            ),
            _ => None,
        };
    }
    let tls = match e {
        ConnectionError::Tls(TlsError::TLS(r)) => Some(r),
        ConnectionError::Tls(TlsError::Io(io)) | ConnectionError::Io(io) => {
            io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        }
        _ => None,
    }?;
    let rustls::Error::InvalidCertificate(c) = tls else {
        return None;
    };
    Some(match c {
        CertificateError::UnknownIssuer => match ca {
            Some(ca) => format!(
                "the broker's certificate is not signed by a CA in --mqtt-ca {}",
                ca.display()
            ),
            None => "the broker's certificate is not signed by a CA of the built-in (Mozilla) \
                     roots; for a broker with a CA of its own, give that CA's certificate with \
                     --mqtt-ca FILE"
                .to_string(),
        },
        CertificateError::BadSignature => match ca {
            Some(ca) => format!(
                "the broker's certificate names a CA of --mqtt-ca {} as its issuer but is not \
                 signed by that CA's key (another CA of the same name?)",
                ca.display()
            ),
            None => return None,
        },
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the broker's certificate is not for the host {:?} of --mqtt-url",
                broker.host
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the broker's certificate has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the broker's certificate is not valid yet (check this machine's clock)".to_string()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> BrokerUrl {
        BrokerUrl::parse(u).unwrap()
    }

    #[test]
    fn plain_mqtt_has_no_tls_and_refuses_a_ca() {
        assert!(Tls::for_broker(&url("mqtt://h"), None).unwrap().is_none());
        let e = Tls::for_broker(&url("mqtt://h"), Some(Path::new("ca.pem"))).unwrap_err();
        assert!(e.starts_with("--mqtt-ca ca.pem: "), "{e}");
        assert!(e.contains("mqtt://h:1883"), "{e}");
    }

    #[test]
    fn mqtts_without_a_ca_uses_the_built_in_roots() {
        let t = Tls::for_broker(&url("mqtts://h"), None).unwrap().unwrap();
        assert!(t.ca.is_none());
    }

    #[test]
    fn bad_ca_files_are_errors_naming_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = Tls::for_broker(&url("mqtts://h"), Some(&missing)).unwrap_err();
        assert!(
            e.starts_with(&format!("--mqtt-ca {}: cannot read", missing.display())),
            "{e}"
        );

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let e = Tls::for_broker(&url("mqtts://h"), Some(&empty)).unwrap_err();
        assert!(e.contains("no certificate in it"), "{e}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nTUlJQm5vdCBhIGNlcnQ=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Tls::for_broker(&url("mqtts://h"), Some(&garbage)).unwrap_err();
        assert!(
            e.contains("certificate 1 is not a usable X.509 certificate"),
            "{e}"
        );
    }

    #[test]
    fn refused_logins_name_the_user_and_the_flag() {
        let e = ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        let d = describe(&e, &url("mqtts://ann:pw@h"), None);
        assert!(d.contains("refused the login as user \"ann\""), "{d}");
        assert!(d.contains("--mqtt-url"), "{d}");
        assert!(!d.contains("pw"), "no password in logs: {d}");
    }

    #[test]
    fn an_unknown_issuer_points_at_mqtt_ca() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let e = ConnectionError::Tls(TlsError::Io(io));
        let d = describe(&e, &url("mqtts://h"), None);
        assert!(d.contains("UnknownIssuer"), "{d}");
        assert!(
            d.contains("give that CA's certificate with --mqtt-ca FILE"),
            "{d}"
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let e = ConnectionError::Tls(TlsError::Io(io));
        let d = describe(&e, &url("mqtts://h"), Some(Path::new("my-ca.pem")));
        assert!(
            d.contains("not signed by a CA in --mqtt-ca my-ca.pem"),
            "{d}"
        );
    }
}
