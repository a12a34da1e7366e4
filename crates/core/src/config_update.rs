//! The one way the canisters apply a partial configuration update
//! (`{field: opt T}` records in candid) and check the result's bounds.

/// Overwrites `slot` when the update names a value.
pub fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// `Ok` when `ok`, else `reason` (the text a `ConfigError::Invalid` carries).
pub fn require(ok: bool, reason: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(reason.to_string())
    }
}

/// Applies `update` (of type `Update`) to `config`, field by field. The
/// update is destructured exhaustively, so a field added to `Update` and
/// not listed here is a compile error rather than an ignored setting.
///
/// ```
/// # #[derive(Default)] struct Config { a: u32, b: bool }
/// # #[derive(Default)] struct Update { a: Option<u32>, b: Option<bool> }
/// let mut c = Config::default();
/// tensormine_core::apply_update!(Update { a: Some(7), b: None } => c; Update { a, b });
/// assert_eq!((c.a, c.b), (7, false));
/// ```
#[macro_export]
macro_rules! apply_update {
    ($update:expr => $config:expr; $Update:ident { $($field:ident),+ $(,)? }) => {{
        let $Update { $($field),+ } = $update;
        $( $crate::config_update::set(&mut $config.$field, $field); )+
    }};
}
