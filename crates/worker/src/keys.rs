//! The worker's ed25519 key: created once (file mode 0600), then reused so the
//! registry can keep trusting the same public key.

use anyhow::{bail, Context};
use ed25519_dalek::{Signer, SigningKey};
use std::io::Write;
use std::path::Path;
use tensormine_core::api::{HexBytes, ResultCommitment, SignedResult};
use tensormine_core::digest::{from_hex, to_hex};
use tensormine_core::signing::result_message;
use tensormine_core::Digest32;

/// The signing key and its public half.
#[derive(Clone)]
pub struct WorkerKey {
    signing: SigningKey,
}

impl WorkerKey {
    /// Wraps an existing key.
    pub fn from_signing_key(signing: SigningKey) -> Self {
        Self { signing }
    }

    /// Loads the key at `path`, or creates one there. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> anyhow::Result<(Self, bool)> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        write_private(path, &to_hex(signing.as_bytes()))?;
        Ok((Self { signing }, true))
    }

    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading worker key {}", path.display()))?;
        let bytes = from_hex(text.trim())
            .with_context(|| format!("worker key {} is not hex", path.display()))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("worker key {} must hold 32 bytes", path.display()))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&secret),
        })
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> HexBytes {
        HexBytes(self.signing.verifying_key().to_bytes().to_vec())
    }

    /// Signs a result commitment for a job.
    pub fn sign_result(
        &self,
        job_id: &str,
        spec_hash: &Digest32,
        commitment: ResultCommitment,
    ) -> SignedResult {
        let message = result_message(job_id, spec_hash, &commitment);
        let signature = self.signing.sign(&message.0).to_bytes().to_vec();
        SignedResult {
            commitment,
            signature: HexBytes(signature),
        }
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating worker key {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    if contents.is_empty() {
        bail!("refusing to write an empty key");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/worker.key");
        let (key, created) = WorkerKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (again, created) = WorkerKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.public_key(), again.public_key());
    }
}
