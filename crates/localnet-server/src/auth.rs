//! Request envelopes and their authentication (interface spec, "Authentication"
//! and "Signatures"): the sender must be the self-authenticating principal of
//! `sender_pubkey` (or anonymous, with no key or signature), the signature is over
//! `"\x0Aic-request" · request_id` by the last key of the delegation chain, and
//! `ingress_expiry` must lie in `[now, now + 5 min + drift]`.

use crate::cbor::{self, Fields};
use candid::Principal;
use ciborium::value::Value;

/// How far in the future `ingress_expiry` may be: the IC's 5 minutes plus the
/// replica's permitted clock drift of 60 s.
pub const MAX_INGRESS_TTL_NANOS: u64 = (5 * 60 + 60) * 1_000_000_000;
/// The spec's limit on the length of a delegation chain.
const MAX_DELEGATIONS: usize = 20;
/// The spec's limit on `targets` of one delegation.
const MAX_DELEGATION_TARGETS: usize = 1000;

const REQUEST_DOMAIN: &[u8] = b"\x0Aic-request";
const DELEGATION_DOMAIN: &[u8] = b"\x1Aic-request-auth-delegation";

const ED25519_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// OID 1.3.6.1.4.1.56387.1.2 (canister signatures), DER-encoded.
const CANISTER_SIG_OID: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02,
];
/// OID 1.3.6.1.4.1.56387.1.1 (DER-wrapped COSE keys, WebAuthn), DER-encoded.
const COSE_OID: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x01,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    Call,
    Query,
    ReadState,
}

impl RequestType {
    pub fn name(self) -> &'static str {
        match self {
            RequestType::Call => "call",
            RequestType::Query => "query",
            RequestType::ReadState => "read_state",
        }
    }
}

/// The `content` of a request, with the fields this server uses.
#[derive(Clone, Debug)]
pub struct Content {
    pub request_id: [u8; 32],
    pub request_type: RequestType,
    pub sender: Principal,
    pub ingress_expiry: u64,
    pub canister_id: Principal,
    pub method_name: String,
    pub arg: Vec<u8>,
    pub paths: Vec<Vec<Vec<u8>>>,
}

struct SignedDelegation {
    /// The `delegation` map as received (its hash is what was signed).
    map: Value,
    pubkey: Vec<u8>,
    expiration: u64,
    targets: Option<Vec<Principal>>,
    queries_only: bool,
    signature: Vec<u8>,
}

/// A decoded request envelope.
pub struct Envelope {
    pub content: Content,
    sender_pubkey: Option<Vec<u8>>,
    sender_sig: Option<Vec<u8>>,
    delegations: Option<Vec<SignedDelegation>>,
}

fn principal(bytes: &[u8], what: &str) -> Result<Principal, String> {
    Principal::try_from_slice(bytes).map_err(|e| format!("`{what}` is not a valid principal: {e}"))
}

/// Decodes an envelope and computes the request id from `content` as received.
pub fn parse(body: &[u8]) -> Result<Envelope, String> {
    let value = cbor::decode(body)?;
    let envelope = Fields::of(&value, "the request envelope")?;
    let content_value = envelope
        .get("content")
        .ok_or("the envelope has no `content`")?;
    let content = Fields::of(content_value, "`content`")?;
    let request_id = cbor::hash_of_map(content_value)
        .map_err(|e| format!("cannot compute the request id: {e}"))?;
    let request_type = match content.text("request_type")? {
        "call" => RequestType::Call,
        "query" => RequestType::Query,
        "read_state" => RequestType::ReadState,
        other => return Err(format!("unknown request_type `{other}`")),
    };
    if let Some(nonce) = content.bytes("nonce")? {
        if nonce.len() > 32 {
            return Err(format!(
                "the nonce is {} bytes long; at most 32 are allowed",
                nonce.len()
            ));
        }
    }
    if content.get("sender_info").is_some() {
        return Err(
            "`sender_info` (canister-signed sender information) is not supported by localnet"
                .into(),
        );
    }
    let sender = principal(content.required_bytes("sender")?, "sender")?;
    let ingress_expiry = content.nat("ingress_expiry")?;
    let (canister_id, method_name, arg, paths) = match request_type {
        RequestType::Call | RequestType::Query => (
            principal(content.required_bytes("canister_id")?, "canister_id")?,
            content.text("method_name")?.to_string(),
            content.required_bytes("arg")?.to_vec(),
            Vec::new(),
        ),
        RequestType::ReadState => {
            let Some(Value::Array(paths)) = content.get("paths") else {
                return Err("a read_state request needs `paths`, an array of paths".into());
            };
            if paths.len() > 1000 {
                return Err(format!(
                    "{} paths requested; at most 1000 are allowed",
                    paths.len()
                ));
            }
            let mut out = Vec::with_capacity(paths.len());
            for path in paths {
                let Value::Array(labels) = path else {
                    return Err("each path must be an array of byte strings".into());
                };
                if labels.len() > 127 {
                    return Err("a path may have at most 127 labels".into());
                }
                let labels = labels
                    .iter()
                    .map(|l| match l {
                        Value::Bytes(b) => Ok(b.clone()),
                        _ => Err("each path label must be a byte string".to_string()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(labels);
            }
            (
                Principal::management_canister(),
                String::new(),
                Vec::new(),
                out,
            )
        }
    };
    let sender_pubkey = envelope.bytes("sender_pubkey")?.map(<[u8]>::to_vec);
    let sender_sig = envelope.bytes("sender_sig")?.map(<[u8]>::to_vec);
    let delegations = match envelope.get("sender_delegation") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(parse_delegation)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("`sender_delegation` must be an array".into()),
    };
    Ok(Envelope {
        content: Content {
            request_id,
            request_type,
            sender,
            ingress_expiry,
            canister_id,
            method_name,
            arg,
            paths,
        },
        sender_pubkey,
        sender_sig,
        delegations,
    })
}

fn parse_delegation(value: &Value) -> Result<SignedDelegation, String> {
    let signed = Fields::of(value, "a signed delegation")?;
    let map = signed
        .get("delegation")
        .ok_or("a signed delegation has no `delegation`")?;
    let fields = Fields::of(map, "`delegation`")?;
    let targets = match fields.get("targets") {
        None => None,
        Some(Value::Array(items)) => {
            if items.len() > MAX_DELEGATION_TARGETS {
                return Err(format!(
                    "a delegation names {} targets; at most {MAX_DELEGATION_TARGETS} are allowed",
                    items.len()
                ));
            }
            Some(
                items
                    .iter()
                    .map(|t| match t {
                        Value::Bytes(b) => principal(b, "targets"),
                        _ => Err("delegation targets must be byte strings".to_string()),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        Some(_) => return Err("delegation `targets` must be an array".into()),
    };
    let queries_only = match fields.get("permissions") {
        None => false,
        Some(Value::Text(p)) if p == "queries" => true,
        Some(Value::Text(p)) if p == "all" => false,
        Some(_) => return Err("delegation `permissions` must be \"queries\" or \"all\"".into()),
    };
    Ok(SignedDelegation {
        map: map.clone(),
        pubkey: fields.required_bytes("pubkey")?.to_vec(),
        expiration: fields.nat("expiration")?,
        targets,
        queries_only,
        signature: signed.required_bytes("signature")?.to_vec(),
    })
}

impl Envelope {
    /// Checks expiry, sender and signatures. `target` is the canister the request
    /// is for (delegation `targets` restrict it); `now` is the IC's time.
    pub fn authenticate(
        &self,
        now: u64,
        target: Option<Principal>,
        root_key_der: &[u8],
    ) -> Result<(), String> {
        let c = &self.content;
        let anonymous = c.sender == Principal::anonymous();
        // Anonymous queries and read_state requests may carry any expiry (spec).
        let check_expiry = !(anonymous && c.request_type != RequestType::Call);
        if check_expiry {
            let max = now.saturating_add(MAX_INGRESS_TTL_NANOS);
            if c.ingress_expiry < now || c.ingress_expiry > max {
                return Err(format!(
                    "Invalid request expiry: Specified ingress_expiry not within expected range: \
                     Minimum allowed expiry: {now}, Maximum allowed expiry: {max}, Provided expiry: {}",
                    c.ingress_expiry
                ));
            }
        }
        if anonymous {
            if self.sender_pubkey.is_some()
                || self.sender_sig.is_some()
                || self.delegations.is_some()
            {
                return Err(
                    "an anonymous request must not carry sender_pubkey, sender_sig or sender_delegation".into(),
                );
            }
            return Ok(());
        }
        let (Some(pubkey), Some(sig)) = (&self.sender_pubkey, &self.sender_sig) else {
            return Err(format!(
                "the request from {} is not signed: sender_pubkey and sender_sig are required",
                c.sender
            ));
        };
        let derived = Principal::self_authenticating(pubkey);
        if derived != c.sender {
            return Err(format!(
                "the sender {} is not the self-authenticating principal {derived} of sender_pubkey",
                c.sender
            ));
        }
        let mut signing_key = pubkey.clone();
        if let Some(delegations) = &self.delegations {
            if delegations.len() > MAX_DELEGATIONS {
                return Err(format!(
                    "{} delegations; at most {MAX_DELEGATIONS} are allowed",
                    delegations.len()
                ));
            }
            let mut seen = vec![pubkey.clone()];
            for (i, d) in delegations.iter().enumerate() {
                let hash = cbor::hash_of_map(&d.map).map_err(|e| format!("delegation {i}: {e}"))?;
                let message = [DELEGATION_DOMAIN, &hash].concat();
                verify(&signing_key, &message, &d.signature, root_key_der)
                    .map_err(|e| format!("delegation {i}: {e}"))?;
                if d.expiration < now {
                    return Err(format!(
                        "delegation {i} expired at {} (now {now})",
                        d.expiration
                    ));
                }
                if let (Some(targets), Some(target)) = (&d.targets, target) {
                    if !targets.contains(&target) {
                        return Err(format!(
                            "delegation {i} does not allow requests to {target}"
                        ));
                    }
                }
                if d.queries_only && c.request_type == RequestType::Call {
                    return Err(format!(
                        "delegation {i} only permits queries and read_state requests"
                    ));
                }
                if seen.contains(&d.pubkey) {
                    return Err(format!(
                        "delegation {i} repeats a public key of the chain (cycles and self-delegations are refused)"
                    ));
                }
                seen.push(d.pubkey.clone());
                signing_key = d.pubkey.clone();
            }
        }
        let message = [REQUEST_DOMAIN, &c.request_id].concat();
        verify(&signing_key, &message, sig, root_key_der)
            .map_err(|e| format!("invalid sender_sig: {e}"))
    }
}

/// Verifies `signature` on `message` with a DER-encoded public key of one of the
/// spec's schemes: Ed25519, ECDSA secp256k1 or P-256 (SHA-256, `r · s`), or a
/// canister signature certified by `root_key_der`.
pub fn verify(
    public_key_der: &[u8],
    message: &[u8],
    signature: &[u8],
    root_key_der: &[u8],
) -> Result<(), String> {
    if public_key_der.starts_with(&ED25519_DER_PREFIX) {
        let key = ic_ed25519::PublicKey::deserialize_rfc8410_der(public_key_der)
            .map_err(|e| format!("malformed Ed25519 public key: {e:?}"))?;
        return key
            .verify_signature(message, signature)
            .map_err(|e| format!("Ed25519 signature does not verify: {e:?}"));
    }
    if let Ok(key) = ic_secp256k1::PublicKey::deserialize_der(public_key_der) {
        return if key.verify_ecdsa_signature_with_malleability(message, signature) {
            Ok(())
        } else {
            Err("ECDSA secp256k1 signature does not verify".into())
        };
    }
    {
        use p256::ecdsa::signature::Verifier;
        use p256::pkcs8::DecodePublicKey;
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(public_key_der) {
            let sig = p256::ecdsa::Signature::from_slice(signature)
                .map_err(|_| "ECDSA P-256 signature must be 64 bytes r · s".to_string())?;
            let sig = sig.normalize_s().unwrap_or(sig);
            return key
                .verify(message, &sig)
                .map_err(|_| "ECDSA P-256 signature does not verify".to_string());
        }
    }
    if let Some((canister, seed)) = canister_sig_key(public_key_der) {
        return verify_canister_signature(canister, seed, message, signature, root_key_der);
    }
    let contains = |oid: &[u8]| public_key_der.windows(oid.len()).any(|w| w == oid);
    if contains(&COSE_OID) {
        return Err("WebAuthn (COSE) keys are not supported by localnet".into());
    }
    Err(
        "sender_pubkey is not a DER-encoded Ed25519, ECDSA secp256k1 or ECDSA P-256 public key"
            .into(),
    )
}

/// One DER TLV: (tag, contents, rest).
fn der_tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (
            rest[..n]
                .iter()
                .fold(0usize, |acc, b| acc << 8 | *b as usize),
            &rest[n..],
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A canister-signature public key (OID 1.3.6.1.4.1.56387.1.2): the signing
/// canister and the seed of `|canister| · canister · seed`.
fn canister_sig_key(der: &[u8]) -> Option<(Principal, &[u8])> {
    let (0x30, spki, []) = der_tlv(der)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_tlv(spki)? else {
        return None;
    };
    if algorithm != CANISTER_SIG_OID {
        return None;
    }
    let (0x03, bits, []) = der_tlv(rest)? else {
        return None;
    };
    let (&0, payload) = bits.split_first()? else {
        return None;
    };
    let (&len, rest) = payload.split_first()?;
    let len = len as usize;
    if rest.len() < len {
        return None;
    }
    let canister = Principal::try_from_slice(&rest[..len]).ok()?;
    Some((canister, &rest[len..]))
}

/// A canister signature (interface spec, "Canister signatures"): the CBOR
/// `{certificate, tree}`; the certificate, signed by the root key, must hold as
/// the signing canister's certified data the root hash of `tree`, and `tree` must
/// have `/sig/<sha256(seed)>/<sha256(message)>` = "".
fn verify_canister_signature(
    canister: Principal,
    seed: &[u8],
    message: &[u8],
    signature: &[u8],
    root_key_der: &[u8],
) -> Result<(), String> {
    use ic_certification::hash_tree::{HashTree, LookupResult};
    use sha2::{Digest, Sha256};
    #[derive(serde::Deserialize)]
    struct CanisterSig {
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
        tree: HashTree<Vec<u8>>,
    }
    let sig: ciborium::tag::Accepted<CanisterSig, { cbor::SELF_DESCRIBING_TAG }> =
        ciborium::from_reader(signature)
            .map_err(|e| format!("malformed canister signature: {e}"))?;
    let sig = sig.0;
    let (_, certified) =
        localnet::localnet_services::certification::verify_canister_data_certificate(
            &sig.certificate,
            root_key_der,
            canister,
        )
        .map_err(|e| format!("canister signature certificate: {e}"))?;
    if certified != sig.tree.digest() {
        return Err(format!(
            "canister signature: the tree is not what canister {canister} certified"
        ));
    }
    let seed_hash = Sha256::digest(seed);
    let message_hash = Sha256::digest(message);
    match sig
        .tree
        .lookup_path([b"sig".as_slice(), &seed_hash, &message_hash])
    {
        LookupResult::Found([]) => Ok(()),
        _ => Err(format!(
            "canister signature: canister {canister} did not sign this message with this seed"
        )),
    }
}
