//! Who the CLI signs as: a dfx identity (`--identity NAME`, read from
//! `~/.config/dfx/identity/NAME/identity.pem`), a PEM file (`--pem FILE`), or
//! the project's default `.tensormine/identity.pem`, generated (ed25519) on
//! first use. ed25519 (PKCS#8, as dfx writes it), secp256k1 (SEC1 `EC PRIVATE
//! KEY`, with or without an `EC PARAMETERS` block, or PKCS#8) and P-256 keys
//! are read.

use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use ic_agent::identity::{BasicIdentity, Prime256v1Identity, Secp256k1Identity};
use ic_agent::Identity;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A dfx identity by name.
    Dfx(String),
    /// A PEM file.
    Pem(PathBuf),
    /// `<state dir>/identity.pem`, created if missing.
    Default(PathBuf),
}

/// A loaded identity and its principal.
#[derive(Clone)]
pub struct LoadedIdentity {
    pub identity: Arc<dyn Identity>,
    pub principal: Principal,
    /// Which kind of key it is ("ed25519", "secp256k1", "prime256v1").
    pub kind: &'static str,
    /// The file it came from.
    pub path: PathBuf,
    /// True when this call created the file.
    pub created: bool,
}

impl std::fmt::Debug for LoadedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedIdentity")
            .field("principal", &self.principal.to_text())
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("created", &self.created)
            .finish()
    }
}

/// The PEM file of dfx identity `name` under `home`.
pub fn dfx_identity_path(home: &Path, name: &str) -> PathBuf {
    home.join(".config/dfx/identity")
        .join(name)
        .join("identity.pem")
}

/// Parses a PEM private key: ed25519, then secp256k1, then P-256.
pub fn identity_from_pem(pem: &[u8]) -> Result<(Arc<dyn Identity>, &'static str)> {
    let text = std::str::from_utf8(pem).map_err(|_| anyhow!("not a PEM file (not text)"))?;
    if !text.contains("-----BEGIN") {
        bail!("not a PEM file (no -----BEGIN line)");
    }
    if text.contains("ENCRYPTED") {
        bail!("the key is encrypted; export it unencrypted (`dfx identity export NAME > key.pem`) and pass --pem key.pem");
    }
    // An `EC PRIVATE KEY` is secp256k1 or P-256; anything else is tried as ed25519 first.
    let ec = text.contains("EC PRIVATE KEY");
    if !ec {
        if let Ok(id) = BasicIdentity::from_pem(pem) {
            return Ok((Arc::new(id), "ed25519"));
        }
    }
    let k256_error = match Secp256k1Identity::from_pem(pem) {
        Ok(id) => return Ok((Arc::new(id), "secp256k1")),
        Err(e) => e,
    };
    if let Ok(id) = Prime256v1Identity::from_pem(pem) {
        return Ok((Arc::new(id), "prime256v1"));
    }
    bail!("not an ed25519, secp256k1 or P-256 private key ({k256_error})")
}

/// A PKCS#8 v1 PEM of an ed25519 key with this 32-byte seed (RFC 8410, the
/// form `dfx identity new` writes).
pub fn ed25519_pem(seed: &[u8; 32]) -> String {
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
    let mut der = hex::decode("302e020100300506032b657004220420").expect("constant hex");
    der.extend_from_slice(seed);
    let b64 = base64_encode(&der);
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Loads the identity, creating the default one if it does not exist yet.
pub fn load(source: &IdentitySource) -> Result<LoadedIdentity> {
    let (path, created) = match source {
        IdentitySource::Dfx(name) => {
            let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| {
                anyhow!(
                    "HOME is not set: cannot find dfx identity {name:?}; pass --pem FILE instead"
                )
            })?;
            let path = dfx_identity_path(&home, name);
            if !path.exists() {
                let encrypted = path.with_file_name("identity.pem.encrypted");
                if encrypted.exists() {
                    bail!("dfx identity {name:?} is encrypted ({}); export it with `dfx identity export {name} > key.pem` and pass --pem key.pem", encrypted.display());
                }
                bail!("no dfx identity {name:?} (expected {}); list them with `dfx identity list` or pass --pem FILE", path.display());
            }
            (path, false)
        }
        IdentitySource::Pem(path) => {
            if !path.exists() {
                bail!(
                    "identity file {} does not exist; pass an existing PEM to --pem",
                    path.display()
                );
            }
            (path.clone(), false)
        }
        IdentitySource::Default(path) => {
            if path.exists() {
                (path.clone(), false)
            } else {
                create_default(path)?;
                (path.clone(), true)
            }
        }
    };
    let pem = std::fs::read(&path)
        .with_context(|| format!("cannot read identity file {}", path.display()))?;
    let (identity, kind) =
        identity_from_pem(&pem).with_context(|| format!("identity file {}", path.display()))?;
    let principal = identity
        .sender()
        .map_err(|e| anyhow!("identity file {}: {e}", path.display()))?;
    Ok(LoadedIdentity {
        identity,
        principal,
        kind,
        path,
        created,
    })
}

/// Writes a new ed25519 key to `path` (mode 0600).
pub fn create_default(path: &Path) -> Result<()> {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_private(path, ed25519_pem(&seed).as_bytes())
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
