//! Accounts of the local cloud: who may provision which device.
//!
//! On the real cloud an access token belongs to one account, and a device
//! can be provisioned only by an account with rights to it; any other gets
//! 403 `Permission Denied` — the very reply an unknown device gets
//! (REFERENCE §4). Each seeded device therefore has an owner account and a
//! product (88, the Duo's platform id, unless told otherwise); a request
//! naming another `product_id` is refused the same way.
//!
//! The simple case — `LocalCloudOptions::tokens` and `::devices`, or
//! `duoprov cloud serve --token T --device ID` — is one account named
//! [`DEFAULT_ACCOUNT`] that owns every device, under product 88.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LocalCloudError;

use crate::cloud::{AccessToken, DeviceId};

/// The account of tokens and devices given without one.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The product a device is seeded under when none is given: the Duo's
/// platform id, which the Duo guide gives as "product id 88" (REFERENCE §1).
pub const DEFAULT_PRODUCT_ID: u16 = 88;

/// An account and its access tokens. `Debug` shows only how many tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// Tokens that act for this account.
    pub tokens: Vec<AccessToken>,
    /// Tokens of this account past their lifetime: 401 "has expired".
    pub expired_tokens: Vec<AccessToken>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("tokens", &self.tokens.len())
            .field("expired_tokens", &self.expired_tokens.len())
            .finish()
    }
}

impl Account {
    pub fn new(name: impl Into<String>) -> Self {
        Account {
            name: name.into(),
            tokens: Vec::new(),
            expired_tokens: Vec::new(),
        }
    }

    /// Add a token that acts for this account.
    pub fn token(mut self, token: AccessToken) -> Self {
        self.tokens.push(token);
        self
    }

    /// Add a token of this account that has expired.
    pub fn expired_token(mut self, token: AccessToken) -> Self {
        self.expired_tokens.push(token);
        self
    }

    /// An account and one token written as `NAME=TOKEN`. The error never
    /// repeats the text: it holds a token.
    pub fn parse(spec: &str) -> Result<Self, AccountSpecError> {
        let (name, token) = spec
            .split_once('=')
            .filter(|(name, token)| !name.is_empty() && !token.is_empty())
            .ok_or_else(|| AccountSpecError {
                reason: "it is not NAME=TOKEN".into(),
            })?;
        let token = AccessToken::new(token).map_err(|e| AccountSpecError {
            reason: e.to_string(),
        })?;
        Ok(Account::new(name).token(token))
    }
}

/// An account description (`NAME=TOKEN`) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an account cannot be used: {reason}")]
pub struct AccountSpecError {
    pub reason: String,
}

impl crate::error::ErrorInfo for AccountSpecError {
    fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InvalidArgument
    }
}

/// A device that had its initial provisioning, with its owner and product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededDevice {
    pub device_id: DeviceId,
    /// The account with rights to it.
    #[serde(default = "default_account")]
    pub account: String,
    /// The product it belongs to.
    #[serde(default = "default_product")]
    pub product_id: u16,
}

fn default_account() -> String {
    DEFAULT_ACCOUNT.to_string()
}

fn default_product() -> u16 {
    DEFAULT_PRODUCT_ID
}

/// A seeded-device description that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seeded device {value:?}: {reason}; write ID, ID:ACCOUNT or ID:ACCOUNT:PRODUCT_ID, e.g. 2fff27fffc473530fff23637:factory:88")]
pub struct SeedError {
    pub value: String,
    pub reason: String,
}

impl crate::error::ErrorInfo for SeedError {
    fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InvalidArgument
    }
}

impl SeededDevice {
    /// `id` in the default account under product 88.
    pub fn new(device_id: DeviceId) -> Self {
        SeededDevice {
            device_id,
            account: default_account(),
            product_id: DEFAULT_PRODUCT_ID,
        }
    }

    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = account.into();
        self
    }

    pub fn product(mut self, product_id: u16) -> Self {
        self.product_id = product_id;
        self
    }

    /// `ID`, `ID:ACCOUNT` or `ID:ACCOUNT:PRODUCT_ID` (a CSV line's commas
    /// work too): the form of `cloud serve --device` and its devices file.
    pub fn parse(text: &str) -> Result<Self, SeedError> {
        let error = |reason: String| SeedError {
            value: text.to_string(),
            reason,
        };
        let mut parts = text.split([':', ',']).map(str::trim);
        let id = parts.next().unwrap_or("");
        let device_id = DeviceId::parse(id).map_err(|e| error(e.to_string()))?;
        let mut seed = SeededDevice::new(device_id);
        if let Some(account) = parts.next() {
            if account.is_empty() {
                return Err(error("the account name is empty".into()));
            }
            seed.account = account.to_string();
        }
        if let Some(product) = parts.next() {
            seed.product_id = product
                .parse()
                .map_err(|_| error(format!("product id {product:?} is not a number 0..65535")))?;
        }
        if parts.next().is_some() {
            return Err(error("too many fields".into()));
        }
        Ok(seed)
    }
}

/// A devices file (`duoprov cloud serve --devices-file`): one seeded device
/// a line as [`SeededDevice::parse`] reads it (`ID[,ACCOUNT[,PRODUCT_ID]]`,
/// commas or colons); `#` comments, blank lines and a `device_id,…` header
/// line are skipped. Errors name the file and the line.
pub fn read_devices_file(path: &Path) -> Result<Vec<SeededDevice>, LocalCloudError> {
    let text = std::fs::read_to_string(path).map_err(|e| LocalCloudError::DevicesFile {
        path: path.to_path_buf(),
        line: 0,
        reason: format!("cannot read it: {e}"),
    })?;
    let mut seeds = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("device")) {
            continue;
        }
        let seed = SeededDevice::parse(line).map_err(|e| LocalCloudError::DevicesFile {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        seeds.push(seed);
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_name_equals_token_and_its_errors_never_repeat_the_token() {
        let account = Account::parse("factory=SECRET-T0KEN").unwrap();
        assert_eq!(account.name, "factory");
        assert_eq!(account.tokens[0].expose_secret(), "SECRET-T0KEN");
        for bad in [
            "SECRET-T0KEN",
            "=SECRET-T0KEN",
            "factory=",
            "factory=SECRET T0KEN",
        ] {
            let e = Account::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("SECRET"), "{bad}: {e}");
            assert_eq!(
                crate::error::ErrorInfo::code(&e).as_str(),
                "INVALID_ARGUMENT"
            );
        }
    }

    #[test]
    fn a_devices_file_reads_seeds_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.csv");
        std::fs::write(
            &path,
            "device_id,account,product_id\n# factory\n2fff27fffc473530fff23637,factory,88\n\n0123456789abcdef01234567\n",
        )
        .unwrap();
        let seeds = read_devices_file(&path).unwrap();
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[0].account, "factory");
        assert_eq!(seeds[1].account, DEFAULT_ACCOUNT);
        std::fs::write(&path, "2fff27fffc473530fff23637\nnope\n").unwrap();
        let e = read_devices_file(&path).unwrap_err().to_string();
        assert!(e.contains("devices file") && e.contains("line 2"), "{e}");
        assert!(!e.contains("batch"), "{e}");
    }

    #[test]
    fn seeds_parse_with_defaults_and_refuse_junk() {
        let id = "2fff27fffc473530fff23637";
        let s = SeededDevice::parse(id).unwrap();
        assert_eq!((s.account.as_str(), s.product_id), ("default", 88));
        let s = SeededDevice::parse(&format!("{id}:factory")).unwrap();
        assert_eq!((s.account.as_str(), s.product_id), ("factory", 88));
        let s = SeededDevice::parse(&format!("{id},factory,6")).unwrap();
        assert_eq!((s.account.as_str(), s.product_id), ("factory", 6));
        for bad in [
            "zz",
            &format!("{id}::6"),
            &format!("{id}:a:x"),
            &format!("{id}:a:6:7"),
        ] {
            let e = SeededDevice::parse(bad).unwrap_err();
            assert!(e.to_string().contains("ID:ACCOUNT"), "{e}");
        }
    }

    #[test]
    fn account_debug_never_shows_tokens() {
        let a = Account::new("a").token(AccessToken::new("sekrit-token").unwrap());
        assert!(!format!("{a:?}").contains("sekrit"));
    }
}
