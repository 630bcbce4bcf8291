//! A certificate authority made at test time, for TLS tests: its
//! certificate in a PEM file for `AWS_CA_BUNDLE`, and server certificates
//! signed by it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};

/// A CA of our own, written to a PEM file for `AWS_CA_BUNDLE`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem_file: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Each CA its own name, so a stranger's certificate is an unknown issuer.
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem_file = crate::temp_path(name, ".pem");
        std::fs::write(&pem_file, issuer.pem()).unwrap();
        Self { issuer, pem_file }
    }

    /// A server configuration with a certificate for `san`, valid from
    /// `not_before` to `not_after`.
    pub fn server_cert(
        &self,
        san: SanType,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> rustls::ServerConfig {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![san];
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}

pub fn localhost() -> SanType {
    SanType::IpAddress("127.0.0.1".parse().unwrap())
}

pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

impl TestCa {
    /// A certificate for 127.0.0.1, valid for a day either side of now, and
    /// its key, as PEM files in `dir`: for a server that is not ours (moto).
    pub fn server_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![localhost()];
        params.not_before = now() - time::Duration::DAY;
        params.not_after = now() + time::Duration::DAY;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_file, key_file) = (dir.join("server.pem"), dir.join("server-key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem_file);
        // Where a moto over TLS keeps its server certificate.
        let _ = std::fs::remove_dir_all(self.pem_file.with_extension("server"));
    }
}
