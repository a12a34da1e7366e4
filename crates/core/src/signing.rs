//! Domain-separated digests and the ed25519 result signature.
//!
//! Every digest is `sha256(u8(len(tag)) ‖ tag ‖ fields…)` with a distinct ASCII
//! tag, so a signature over one kind of message can never be replayed as
//! another. Integers are little-endian; strings are prefixed by their byte
//! length as u64.
//!
//! * spec hash = `H("tensormine/job-spec/v1", compact serde_json of JobSpec)`;
//! * commitment digest = `H("tensormine/result-commitment/v1", rows, cols,
//!   merkle_root, sha256, byte_len)`;
//! * model id = `H("tensormine/model/v1", sha256 of config, weights, tokenizer)`;
//! * signed message = `H("tensormine/worker-result/v1", job_id, spec_hash,
//!   commitment digest)`, 32 bytes, signed with ed25519 (RFC 8032, pure).

use crate::api::{JobSpec, ResultCommitment};
use crate::Digest32;
use sha2::{Digest as _, Sha256};

/// Tag of [`spec_hash`].
pub const SPEC_TAG: &str = "tensormine/job-spec/v1";
/// Tag of [`commitment_digest`].
pub const COMMITMENT_TAG: &str = "tensormine/result-commitment/v1";
/// Tag of [`result_message`].
pub const RESULT_TAG: &str = "tensormine/worker-result/v1";
/// Tag of [`model_id`].
pub const MODEL_TAG: &str = "tensormine/model/v1";

fn tagged(tag: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update([tag.len() as u8]);
    hasher.update(tag.as_bytes());
    hasher
}

/// Hash of a job spec, in its compact JSON form (field order as declared).
pub fn spec_hash(spec: &JobSpec) -> Digest32 {
    let mut hasher = tagged(SPEC_TAG);
    hasher.update(serde_json::to_vec(spec).expect("job specs always serialise"));
    Digest32(hasher.finalize().into())
}

/// Id of an embedding model: `H("tensormine/model/v1", sha256(config.json),
/// sha256(model.safetensors), sha256(tokenizer.json))`. Any change to the
/// architecture, the weights or the tokenizer gives a different id.
pub fn model_id(
    config_sha256: &Digest32,
    weights_sha256: &Digest32,
    tokenizer_sha256: &Digest32,
) -> Digest32 {
    let mut hasher = tagged(MODEL_TAG);
    hasher.update(config_sha256.0);
    hasher.update(weights_sha256.0);
    hasher.update(tokenizer_sha256.0);
    Digest32(hasher.finalize().into())
}

/// Digest of a result commitment.
pub fn commitment_digest(c: &ResultCommitment) -> Digest32 {
    let mut hasher = tagged(COMMITMENT_TAG);
    hasher.update(c.rows.to_le_bytes());
    hasher.update(c.cols.to_le_bytes());
    hasher.update(c.merkle_root.0);
    hasher.update(c.sha256.0);
    hasher.update(c.byte_len.to_le_bytes());
    Digest32(hasher.finalize().into())
}

/// The 32-byte message a worker signs for a finished job.
pub fn result_message(
    job_id: &str,
    spec_hash: &Digest32,
    commitment: &ResultCommitment,
) -> Digest32 {
    let mut hasher = tagged(RESULT_TAG);
    hasher.update((job_id.len() as u64).to_le_bytes());
    hasher.update(job_id.as_bytes());
    hasher.update(spec_hash.0);
    hasher.update(commitment_digest(commitment).0);
    Digest32(hasher.finalize().into())
}

/// Why a result signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not 32 bytes or not a valid curve point.
    #[error("invalid ed25519 public key")]
    PublicKey,
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes, got {0}")]
    Length(usize),
    /// The signature does not verify.
    #[error("signature does not verify")]
    Mismatch,
}

/// Verifies a worker's signature over `(job_id, spec_hash, commitment)`
/// (strict verification: rejects small-order keys and malleable signatures).
pub fn verify_result(
    public_key: &[u8],
    job_id: &str,
    spec_hash: &Digest32,
    commitment: &ResultCommitment,
    signature: &[u8],
) -> Result<(), SignatureError> {
    let key_bytes: [u8; 32] = public_key
        .try_into()
        .map_err(|_| SignatureError::PublicKey)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| SignatureError::PublicKey)?;
    let sig_bytes: [u8; 64] = signature
        .try_into()
        .map_err(|_| SignatureError::Length(signature.len()))?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    let message = result_message(job_id, spec_hash, commitment);
    key.verify_strict(&message.0, &sig)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{EmbedSpec, MatmulSpec, MatrixSource};
    use ed25519_dalek::{Signer, SigningKey};

    fn commitment() -> ResultCommitment {
        ResultCommitment {
            rows: 2,
            cols: 3,
            merkle_root: Digest32([1; 32]),
            sha256: Digest32([2; 32]),
            byte_len: 24,
        }
    }

    #[test]
    fn signature_round_trip_and_binding() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let spec = Digest32([3; 32]);
        let c = commitment();
        let sig = key.sign(&result_message("job-1", &spec, &c).0).to_bytes();
        let public = key.verifying_key().to_bytes();
        verify_result(&public, "job-1", &spec, &c, &sig).unwrap();
        assert_eq!(
            verify_result(&public, "job-2", &spec, &c, &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_result(&public, "job-1", &Digest32([4; 32]), &c, &sig),
            Err(SignatureError::Mismatch)
        );
        let other = ResultCommitment {
            byte_len: 25,
            ..c.clone()
        };
        assert_eq!(
            verify_result(&public, "job-1", &spec, &other, &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_result(&public, "job-1", &spec, &c, &sig[..63]),
            Err(SignatureError::Length(63))
        );
        assert_eq!(
            verify_result(&public[..31], "job-1", &spec, &c, &sig),
            Err(SignatureError::PublicKey)
        );
    }

    #[test]
    fn spec_hash_distinguishes_specs_and_is_stable() {
        let seeded = |s| MatrixSource::Seeded {
            seed: Digest32([s; 32]),
        };
        let a = JobSpec::Matmul(MatmulSpec {
            m: 2,
            k: 2,
            n: 2,
            a: seeded(1),
            b: seeded(2),
        });
        let b = JobSpec::Matmul(MatmulSpec {
            m: 2,
            k: 2,
            n: 2,
            a: seeded(1),
            b: seeded(3),
        });
        let e = JobSpec::Embed(EmbedSpec {
            model: Digest32([0; 32]),
            sentences: vec!["x".into()],
        });
        assert_ne!(spec_hash(&a), spec_hash(&b));
        assert_ne!(spec_hash(&a), spec_hash(&e));
        // Pinned so an accidental change of the wire form or field order is noticed:
        // canisters hash specs independently and must get the same bytes.
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"workload":"matmul","m":2,"k":2,"n":2,"a":{{"kind":"seeded","seed":"{}"}},"b":{{"kind":"seeded","seed":"{}"}}}}"#,
                "01".repeat(32),
                "02".repeat(32)
            )
        );
    }

    #[test]
    fn domain_tags_separate_digests() {
        let c = commitment();
        assert_ne!(
            commitment_digest(&c),
            result_message("", &Digest32::default(), &c)
        );
    }
}
