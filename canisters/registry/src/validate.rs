//! Validation of a miner's declared profile, with a typed error per field.

use crate::address;
use crate::types::*;

/// Checks the endpoint URL and returns it normalised (no trailing `/`).
/// `https://host[:port][/path]`; `http://` only when `local`.
pub fn endpoint(url: &str, local: bool) -> Result<String, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("longer than {MAX_URL_LEN} bytes"));
    }
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !local {
            return Err("must use https (plain http only on a local network)".into());
        }
        rest
    } else {
        return Err("must start with https://".into());
    };
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~/:[]%".contains(*c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (no userinfo, query or fragment)"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("unterminated IPv6 literal")?;
        let after = &v6[end + 1..];
        (&v6[..end], after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.len() > 253 {
        return Err("missing or overlong host".into());
    }
    if authority.contains('[') && !authority.starts_with('[') {
        return Err("misplaced '['".into());
    }
    if !authority.starts_with('[') {
        for label in host.split('.') {
            if label.is_empty()
                || label.len() > 63
                || label.starts_with('-')
                || label.ends_with('-')
                || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(format!("invalid host {host:?}"));
            }
        }
    } else if !host
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    {
        return Err(format!("invalid IPv6 host {host:?}"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('0') => {}
            _ => return Err(format!("invalid port {port:?}")),
        }
    }
    if path.contains("//") || path.contains("/../") || path.ends_with("/..") {
        return Err("path must be a plain prefix".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn text(what: &str, value: &str, max: usize, allow_empty: bool) -> Result<(), String> {
    if value.is_empty() && !allow_empty {
        return Err(format!("{what} is empty"));
    }
    if value.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// Validates a whole profile and returns it normalised.
pub fn profile(p: &MinerProfile, config: &Config) -> Result<MinerProfile, ProfileError> {
    let endpoint = endpoint(&p.endpoint, config.local)
        .map_err(|reason| ProfileError::InvalidEndpoint { reason })?;
    if p.worker_public_key.len() != PUBLIC_KEY_LEN {
        return Err(ProfileError::InvalidPublicKey {
            reason: format!(
                "{} bytes, an ed25519 public key has {PUBLIC_KEY_LEN}",
                p.worker_public_key.len()
            ),
        });
    }
    let key: [u8; 32] = p
        .worker_public_key
        .as_slice()
        .try_into()
        .expect("length checked");
    if ed25519_point_invalid(&key) {
        return Err(ProfileError::InvalidPublicKey {
            reason: "not a valid ed25519 point".into(),
        });
    }
    let gpus_err = |reason: String| ProfileError::InvalidGpus { reason };
    if p.gpus.len() > MAX_GPUS {
        return Err(gpus_err(format!("more than {MAX_GPUS} GPU entries")));
    }
    for g in &p.gpus {
        text("GPU model", &g.model, MAX_GPU_MODEL_LEN, false).map_err(gpus_err)?;
        if g.count == 0 || g.count > MAX_GPU_COUNT {
            return Err(gpus_err(format!("count must be 1 to {MAX_GPU_COUNT}")));
        }
        if g.memory_bytes == 0 || g.memory_bytes > (1 << 50) {
            return Err(gpus_err("memory_bytes must be 1 byte to 1 PiB".into()));
        }
    }
    let offers_err = |reason: String| ProfileError::InvalidOffers { reason };
    if p.offers.is_empty() {
        return Err(offers_err("at least one workload offer is required".into()));
    }
    if p.offers.len() > MAX_OFFERS {
        return Err(offers_err(format!("more than {MAX_OFFERS} offers")));
    }
    for (i, o) in p.offers.iter().enumerate() {
        if p.offers[..i].iter().any(|x| x.workload == o.workload) {
            return Err(offers_err(format!("{:?} offered twice", o.workload)));
        }
        if o.price_sats_per_unit == 0 || o.price_sats_per_unit > MAX_PRICE_SATS {
            return Err(offers_err("price must be 1 sat to 21M BTC per unit".into()));
        }
    }
    address::validate(&p.btc_address, config.btc_network)
        .map_err(|reason| ProfileError::InvalidBtcAddress { reason })?;
    text("region", &p.region, MAX_REGION_LEN, true)
        .map_err(|reason| ProfileError::InvalidRegion { reason })?;
    let labels_err = |reason: String| ProfileError::InvalidLabels { reason };
    if p.labels.len() > MAX_LABELS {
        return Err(labels_err(format!("more than {MAX_LABELS} labels")));
    }
    for l in &p.labels {
        text("label", l, MAX_LABEL_LEN, false).map_err(labels_err)?;
        if !l
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c))
        {
            return Err(labels_err(format!(
                "label {l:?}: allowed are a-z 0-9 - _ . :"
            )));
        }
    }
    Ok(MinerProfile {
        endpoint,
        ..p.clone()
    })
}

/// True when the 32 bytes are not an ed25519 point, or a small-order one.
fn ed25519_point_invalid(key: &[u8; 32]) -> bool {
    match ed25519_dalek::VerifyingKey::from_bytes(key) {
        Ok(k) => k.is_weak(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("https://w.example.com:8443/", false).unwrap(),
            "https://w.example.com:8443"
        );
        assert!(endpoint("https://w.example.com/base", false).is_ok());
        assert!(endpoint("https://[::1]:8787", false).is_ok());
        assert!(endpoint("http://127.0.0.1:8787", true).is_ok());
        for bad in [
            "http://127.0.0.1:8787",
            "ftp://x",
            "https://",
            "https://user@host",
            "https://host?x=1",
            "https://host#f",
            "https://host:0",
            "https://host:99999",
            "https://-host",
            "https://ho st",
            "https://host//x",
        ] {
            assert!(endpoint(bad, false).is_err(), "{bad}");
        }
        assert!(endpoint(&format!("https://{}", "a".repeat(300)), false).is_err());
    }
}
