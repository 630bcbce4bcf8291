//! What the tests and the bench share: the example configuration, fake AWS
//! backends, loopback HTTP helpers, and the tools the slow tests need. A
//! library of its own, so that it is compiled once, for both.

pub mod backends;
pub mod components;
pub mod fun;
pub mod loopback;
pub mod moto;
pub mod process;
pub mod tls;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `attach-iot-policy` binary that cargo built beside the running test
/// or bench (`target/<profile>/deps/<test>` → `target/<profile>/`).
pub fn cli() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary is in target/<profile>/deps");
    let cli = dir.join(format!("attach-iot-policy{}", std::env::consts::EXE_SUFFIX));
    assert!(cli.exists(), "{} is missing: cargo builds it for the host's tests and bench", cli.display());
    cli
}

/// The CLI with nothing from this process's environment but an AWS at
/// `endpoint` in `us-east-1`, and these keys.
pub fn cli_against(endpoint: &str, key: &str, secret: &str) -> std::process::Command {
    let mut command = std::process::Command::new(cli());
    command
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    command
}

/// Runs `f` to its end on a runtime of its own.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A tool that `make test` installs, or a panic that says how to get it.
pub fn tool(relative: &str, installed_by: &str) -> PathBuf {
    let path = root().join(relative);
    assert!(path.exists(), "{} is missing: {installed_by} installs it (or run `make test`)", path.display());
    path
}

/// A path in the temporary directory that no other test, in this process
/// or another, is given: the tests run in parallel in one binary.
pub fn temp_path(name: &str, extension: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("attach-iot-policy-{name}-{}-{n}{extension}", std::process::id()))
}

/// A fresh, empty directory for this test, removed when dropped:
/// each unzipped package is 8 MiB, and CI machines share their disk.
pub fn tempdir(name: &str) -> TempDir {
    let dir = temp_path(name, "");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unzips `dist/<zip>` into `into`, as Lambda would.
pub fn unzip(zip: &str, into: &Path) {
    let zip = root().join("dist").join(zip);
    assert!(zip.exists(), "{} is missing: `make test` builds it", zip.display());
    let python = moto::venv_bin("python");
    let status = std::process::Command::new(python).args(["-m", "zipfile", "-e"]).arg(&zip).arg(into).status().unwrap();
    assert!(status.success());
}

/// `node`, or a panic that says this test needs it.
pub fn node() -> &'static str {
    let found = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "this test needs Node.js 20 or later on the PATH (and `make node` for its packages)");
    "node"
}
